"""Training losses, registered under the `mer_bench.losses` entry-point group.

A model's recipe names its loss (`Recipe.loss`, default `cross-entropy`); the trainer builds one
per job from the class counts of that job's training rows, so a loss that weighs classes sees
only the labels it may see. `rows(logits, y)` gives the per-row losses (the stacked trainer
weighs them, padding rows at 0); `mean(logits, y)` the batch loss of the one-model path.

To add a loss: subclass `Loss` in one module, name it, and register the class under
`mer_bench.losses`; a recipe then declares `loss="<name>"`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from mer_bench.core.options import NoOptions


class Loss(ABC):
    """A training loss built for one job (see the module docstring)."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: A loss takes no user options: the trainer gives it the job's class counts.
    Options: ClassVar[type] = NoOptions

    def __init__(self, class_counts: np.ndarray) -> None:
        self.class_counts = np.asarray(class_counts, dtype=np.int64)

    @abstractmethod
    def rows(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The loss of each row, shape (B,)."""

    def mean(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The loss of a batch: the mean of its rows."""
        return self.rows(logits, y).mean()


class CrossEntropy(Loss):
    """Unweighted cross-entropy: what every model trained with before losses were declared."""

    name = "cross-entropy"
    description = "cross-entropy, every row alike (the default)"

    def rows(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, y, reduction="none")

    def mean(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # torch's own mean reduction, as nn.CrossEntropyLoss() computes it (bit for bit)
        return F.cross_entropy(logits, y)


def balanced_weights(class_counts: np.ndarray) -> np.ndarray:
    """Per class n / (k * count), over the k classes present: each class weighs as much in all,
    and the weights of the n training rows sum to n (so the loss keeps its scale)."""
    counts = np.asarray(class_counts, dtype=np.float64)
    present = counts > 0
    weights = np.zeros_like(counts)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights


class ClassWeightedCrossEntropy(CrossEntropy):
    """Cross-entropy with each row weighted by its class's balanced weight (`balanced_weights`),
    for imbalanced label sets (the composite: 250 negative, 109 positive, 83 surprise)."""

    name = "class-weighted-cross-entropy"
    description = "cross-entropy with balanced class weights from the job's training labels"

    def __init__(self, class_counts: np.ndarray) -> None:
        super().__init__(class_counts)
        self.weights = torch.as_tensor(balanced_weights(self.class_counts), dtype=torch.float32)

    def rows(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        weights = self.weights.to(logits.device)[y]
        return weights * F.cross_entropy(logits.float(), y, reduction="none")

    def mean(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.rows(logits, y).mean()


class Focal(Loss):
    """Focal loss (Lin et al. 2017): cross-entropy scaled by (1 - p_true)^gamma, so rows the
    model already gets right weigh less; gamma 2 as in the paper."""

    name = "focal"
    description = "focal loss, gamma 2 (Lin et al. 2017)"
    gamma: ClassVar[float] = 2.0

    def rows(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(logits.float(), y, reduction="none")
        return (1.0 - torch.exp(-ce)).pow(self.gamma) * ce


def make_loss(name: str, labels: np.ndarray, num_classes: int) -> Loss:
    """The loss registered as `name`, built for training rows with these labels."""
    from mer_bench.core.registry import LOSSES

    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)[:num_classes]
    return LOSSES.get(name)(counts)
