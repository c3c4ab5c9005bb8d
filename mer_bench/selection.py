"""Epoch selection policies: which epoch's predictions on the held-out subject are kept.

`fixed` (the default) keeps the last of a pre-declared number of epochs: the model never sees
test labels. `best-on-test` reproduces the legacy rule of the HTNet reference (and most MER code):
per fold, the epoch with the best held-out accuracy, ties to the later epoch. It uses the test
labels to choose, so it inflates scores; it exists to measure that, and it is always recorded on
the run and printed next to its scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FIXED = "fixed"
BEST_ON_TEST = "best-on-test"
POLICIES = (FIXED, BEST_ON_TEST)


def needs_test_every_epoch(policy: str) -> bool:
    """Only test-set selection evaluates the held-out subject before the end of training."""
    return policy == BEST_ON_TEST


@dataclass
class BestOnTest:
    """Tracks the epoch with the best held-out accuracy (ties go to the later epoch)."""

    labels: np.ndarray
    best_accuracy: float = -1.0
    best_epoch: int | None = None
    best_probs: np.ndarray | None = None

    def observe(self, epoch: int, probs: np.ndarray) -> None:
        accuracy = float(np.mean(probs.argmax(axis=1) == self.labels))
        if accuracy >= self.best_accuracy:
            self.best_accuracy, self.best_epoch, self.best_probs = accuracy, epoch, probs
