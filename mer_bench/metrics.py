"""UF1 / UAR and friends, as pure functions of labels and predictions, computed with torch.

Pooled scores follow the MEGC convention: concatenate every fold's test predictions, then per
class c: F1_c = 2TP / (2TP + FP + FN) and recall_c = TP / N_c; UF1 and UAR are their means.

Rule for classes that cannot be scored (old MEGC code skipped them silently; we say so):
- a class absent from both the truth and the predictions has no F1 and no recall: it is left out
  of both means and listed in `absent_classes`;
- a class absent from the truth but predicted has F1 = 0 (all its predictions are wrong) and no
  recall (N_c = 0): it counts in UF1, not in UAR, and is listed in `absent_classes` too.
With every class present (the usual case) both means are over all classes and equal
scikit-learn's macro F1 / macro recall.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True)
class Scores:
    """Scores of one set of predictions (a whole run, one dataset or one subject)."""

    uf1: float
    uar: float
    n: int
    f1_per_class: tuple[float | None, ...]
    recall_per_class: tuple[float | None, ...]
    confusion: tuple[tuple[int, ...], ...]
    absent_classes: tuple[int, ...] = ()

    def as_dict(self) -> dict:
        return {"uf1": self.uf1, "uar": self.uar, "n": self.n,
                "f1_per_class": list(self.f1_per_class),
                "recall_per_class": list(self.recall_per_class),
                "confusion": [list(r) for r in self.confusion],
                "absent_classes": list(self.absent_classes)}


@dataclass(frozen=True)
class ScoreReport:
    """Pooled scores, per-source-dataset scores on the pooled predictions, per-subject mean."""

    pooled: Scores
    per_dataset: dict[str, Scores] = field(default_factory=dict)
    subject_mean_uf1: float = float("nan")
    subject_mean_uar: float = float("nan")


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """'auto' (or None) picks CUDA when present, else the CPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def confusion_matrix(
    y_true: Sequence[int] | np.ndarray | torch.Tensor,
    y_pred: Sequence[int] | np.ndarray | torch.Tensor,
    num_classes: int,
    device: str | torch.device | None = "auto",
) -> torch.Tensor:
    """Counts (num_classes x num_classes), rows = truth, columns = prediction."""
    dev = resolve_device(device)
    t = torch.as_tensor(np.array(y_true), dtype=torch.long, device=dev).reshape(-1)
    p = torch.as_tensor(np.array(y_pred), dtype=torch.long, device=dev).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"{t.numel()} labels but {p.numel()} predictions")
    if t.numel() and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= num_classes):
        raise ValueError(f"labels and predictions must lie in [0, {num_classes - 1}]")
    flat = torch.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def scores_from_confusion(confusion: torch.Tensor) -> Scores:
    """UF1, UAR and per-class F1 / recall from a confusion matrix, with the module's rule."""
    cm = confusion.to(torch.float64)
    tp = torch.diagonal(cm)
    n_true = cm.sum(dim=1)
    n_pred = cm.sum(dim=0)
    f1_den = n_true + n_pred  # 2TP + FP + FN
    has_f1 = f1_den > 0
    has_recall = n_true > 0
    f1 = torch.where(has_f1, 2 * tp / f1_den.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(has_recall, tp / n_true.clamp(min=1), torch.zeros_like(tp))
    uf1 = float(f1[has_f1].mean()) if has_f1.any() else float("nan")
    uar = float(recall[has_recall].mean()) if has_recall.any() else float("nan")
    hf, hr = has_f1.tolist(), has_recall.tolist()
    f1_list, rec_list = f1.tolist(), recall.tolist()
    return Scores(
        uf1=uf1,
        uar=uar,
        n=int(cm.sum()),
        f1_per_class=tuple(v if ok else None for v, ok in zip(f1_list, hf)),
        recall_per_class=tuple(v if ok else None for v, ok in zip(rec_list, hr)),
        confusion=tuple(tuple(int(x) for x in row) for row in confusion.tolist()),
        absent_classes=tuple(i for i, ok in enumerate(hr) if not ok),
    )


def score(y_true, y_pred, num_classes: int, device: str | torch.device | None = "auto") -> Scores:
    """Pooled UF1 / UAR of predictions against labels."""
    return scores_from_confusion(confusion_matrix(y_true, y_pred, num_classes, device))


def uf1(y_true, y_pred, num_classes: int, device: str | torch.device | None = "auto") -> float:
    """Unweighted F1: the mean of per-class F1 (see the module's rule for absent classes)."""
    return score(y_true, y_pred, num_classes, device).uf1


def uar(y_true, y_pred, num_classes: int, device: str | torch.device | None = "auto") -> float:
    """Unweighted average recall: the mean of per-class recall."""
    return score(y_true, y_pred, num_classes, device).uar


def score_report(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    num_classes: int,
    datasets: Sequence[str] | np.ndarray,
    subjects: Sequence[str] | np.ndarray,
    device: str | torch.device | None = "auto",
) -> ScoreReport:
    """Pooled scores, per-dataset scores on the pooled predictions, and per-subject means.

    Subjects must be unique across datasets (pass dataset-qualified ids).
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    datasets, subjects = np.asarray(datasets), np.asarray(subjects)
    pooled = score(y_true, y_pred, num_classes, device)
    per_dataset = {
        str(d): score(y_true[datasets == d], y_pred[datasets == d], num_classes, device)
        for d in dict.fromkeys(datasets.tolist())
    }
    per_subject = [
        score(y_true[subjects == s], y_pred[subjects == s], num_classes, device)
        for s in dict.fromkeys(subjects.tolist())
    ]
    return ScoreReport(
        pooled=pooled,
        per_dataset=per_dataset,
        subject_mean_uf1=float(np.mean([s.uf1 for s in per_subject])) if per_subject else float("nan"),
        subject_mean_uar=float(np.mean([s.uar for s in per_subject])) if per_subject else float("nan"),
    )
