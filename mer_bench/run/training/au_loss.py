"""The loss of multi-label AU tasks: one sigmoid per AU, binary cross-entropy with logits.

An AU task's labels are bit masks over its AUs (`mer_bench.core.au_labels`); the trainer builds
this loss for every job of an AU task, whatever loss the model's recipe names for emotion tasks
(those are per-class losses over one class per row, which an AU target is not).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mer_bench.run.training.losses import Loss


def au_targets_of(y: torch.Tensor, n_aus: int) -> torch.Tensor:
    """Bit-mask labels -> float (..., n_aus) 0/1 targets."""
    bits = torch.arange(n_aus, device=y.device)
    return ((y.unsqueeze(-1) >> bits) & 1).float()


class PerAUSigmoid(Loss):
    """Per row: the mean over the task's AUs of BCE with logits (MEB's AU loss)."""

    name = "per-au-sigmoid"
    description = "binary cross-entropy with logits per AU, mean over AUs (AU tasks)"

    def __init__(self, n_aus: int) -> None:
        super().__init__(np.zeros(n_aus, dtype=np.int64))
        self.n_aus = n_aus

    def rows(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(
            logits.float(), au_targets_of(y, self.n_aus), reduction="none"
        ).mean(-1)
