"""The typed records behind the results schema: a run, a fold with its predictions.

`Store` writes and reads only these; export, import and the board pass them around, so the
shape of a stored run is defined once, here and in `mer_bench.results.store.schema`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from mer_bench.data.naming import canonical_ids
from mer_bench.core.errors import DataError

#: What a run id may hold: it names files (exports, weights), so nothing that walks a path.
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    """A sortable, unique run id: UTC timestamp plus random suffix."""
    import uuid

    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def check_run_id(run_id: str, where: str = "run id") -> str:
    """`run_id` if it is a safe identifier (letters, digits, '.', '_', '-'); DataError otherwise."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id) or ".." in run_id:
        raise DataError(
            f"{where} {run_id!r} is not a valid run id (letters, digits, '.', '_', "
            "'-'; at most 128 characters; no '..')"
        )
    return run_id


def dumps(obj: Any) -> str:
    """Canonical JSON of stored structures (sorted keys; non-JSON values as strings)."""
    return json.dumps(obj, sort_keys=True, default=str)


class DamagedRow(DataError):
    """A stored run whose JSON column cannot be decoded (a damaged or hand-edited database):
    readers leave that run out with one line naming it, and show every other run."""

    def __init__(self, run_id: str, column: str, reason: str) -> None:
        self.run_id, self.column = run_id, column
        super().__init__(f"run {run_id}: its stored {column} is damaged ({reason})")


def load_json(text: Any, run_id: str, column: str, kind: type | None = None) -> Any:
    """`text` decoded from JSON, of type `kind` where given; DamagedRow naming the run and the
    column otherwise (also for JSON nested too deep to decode)."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError) as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise DamagedRow(run_id, column, f"not valid JSON: {reason}") from None
    if kind is not None and not isinstance(value, kind):
        raise DamagedRow(
            run_id,
            column,
            f"a JSON {type(value).__name__}, not a {'list' if kind is list else 'mapping'}",
        )
    return value


@dataclass(frozen=True)
class RunRecord:
    """One row of the runs table, decoded."""

    run_id: str
    model: str
    protocol: str
    source: str
    view: str
    selection: str
    seed: int
    identity: dict[str, Any]
    config_hash: str
    group_hash: str
    recipe: dict[str, Any]
    classes: tuple[str, ...]
    card: dict[str, Any]
    provenance: dict[str, Any]
    mer_bench_version: str
    git_commit: str | None
    torch_version: str | None
    device_name: str | None
    executor: str
    n_folds: int
    started_at: str
    finished_at: str | None
    status: str
    kind: str = "benchmark"
    experiment_id: str | None = None
    estimated_seconds: float | None = None
    wall_seconds: float | None = None
    content_hash: str | None = None
    host: str | None = None
    pid: int | None = None
    heartbeat_at: str | None = None

    @property
    def epochs(self) -> int | None:
        """The declared epoch count (of the recipe)."""
        return self.recipe.get("epochs")

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "classes": list(self.classes)}

    def to_row(self) -> dict[str, Any]:
        """The runs-table row."""
        row = self.as_dict()
        for key in ("identity", "recipe", "classes", "card", "provenance"):
            row[f"{key}_json"] = dumps(row.pop(key))
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RunRecord:
        data = dict(row)
        run_id = str(data.get("run_id"))
        for key in ("identity", "recipe", "card", "provenance"):
            data[key] = load_json(data.pop(f"{key}_json"), run_id, f"{key}_json", dict)
        data["classes"] = tuple(load_json(data.pop("classes_json"), run_id, "classes_json", list))
        return cls(**data)


@dataclass(frozen=True)
class FoldRecord:
    """A finished fold: what it trained on, its seed and time, what the selection policy chose,
    and its held-out predictions (one entry per test sample, in the same order)."""

    fold_index: int
    fold_key: str
    seed: int
    n_train: int
    epochs_trained: int
    selected_epoch: int | None
    seconds: float
    datasets: Sequence[str]
    subjects: Sequence[str]
    samples: Sequence[str]
    labels: np.ndarray
    probs: np.ndarray
    selection: dict[str, Any] | None = None
    finished_at: str = field(default_factory=now)
    artifact: str | None = None
    preds_declared: np.ndarray | None = None  # a submission's own `pred` (checked against probs)

    def __post_init__(self) -> None:
        n = len(self.samples)
        probs = np.asarray(self.probs, dtype=np.float64)
        if (
            not (len(self.datasets) == len(self.subjects) == len(self.labels) == n)
            or probs.ndim != 2
            or len(probs) != n
        ):
            raise DataError(
                f"fold {self.fold_key}: {n} samples but {len(self.labels)} labels and "
                f"{len(probs)} probability rows"
            )
        if self.preds_declared is not None:
            declared = np.asarray(self.preds_declared, dtype=np.int64)
            best = probs.max(axis=1)
            ok = probs[np.arange(n), declared] >= best - 1e-9
            if not ok.all():
                i = int(np.flatnonzero(~ok)[0])
                raise DataError(
                    f"fold {self.fold_key}: sample {self.samples[i]} has pred "
                    f"{declared[i]}, not the most probable class of its probs"
                )

    @property
    def preds(self) -> np.ndarray:
        """The predicted class per sample: the declared one, else the arg-max of `probs`."""
        if self.preds_declared is not None:
            return np.asarray(self.preds_declared, dtype=np.int64)
        return np.asarray(self.probs).argmax(axis=1)

    @property
    def n_test(self) -> int:
        return len(self.samples)


def content_hash(rows: Sequence[tuple[str, str, str, int]]) -> str:
    """Hash of a run's predictions: sorted (dataset, subject, sample, pred) tuples, the ids in
    their canonical spellings (`canonical_ids`), so that respelling a dataset or subject (`CASME_2`,
    `s01`, `1`) gives the same hash. Two runs with the same hash made the same predictions on the
    same samples."""
    canonical = [(*canonical_ids(d, s, n), int(p)) for d, s, n, p in rows]
    text = "\n".join("\t".join(str(v) for v in row) for row in sorted(canonical))
    return hashlib.sha256(text.encode()).hexdigest()[:24]
