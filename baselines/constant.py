"""The constant baseline: the answer a model gives when it learns nothing from the face.

- emotion (single-label) tasks: the majority class of the fold's training samples, for every
  test sample (ties: the lowest class index, so the answer is deterministic). Its UF1 is
  F1(majority) / C with recall 1 on that class, UAR exactly 1/C: the floor a model must clear.
- AU (multi-label) tasks, where `fit` gets a (N, A) 0/1 matrix: every AU present in every sample
  (all-positive), as MEB's constant baseline. Per AU its F1 is 2p / (1 + p) for prevalence p on
  the held-out samples; predicting each AU's majority instead would predict "absent" for every AU
  rarer than 50% and score F1 = 0, which says nothing.

It is an estimator (card.framework "estimator"): fitted once per fold on the training rows, it
never looks at the inputs, so any view serves; flow28 is the cheapest.
"""

from __future__ import annotations

import numpy as np

from mer_bench.core.cards import ModelCard, ModelSpec, Recipe


class ConstantBaseline:
    """Estimator interface: `fit(x, y, seed)`, `predict_proba(x)` -> (N, C) or (N, A)."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.answer: np.ndarray | None = None

    def fit(self, x: np.ndarray, y: np.ndarray, seed: int) -> None:
        y = np.asarray(y)
        if y.ndim == 2:  # multi-label AU targets: all-positive
            self.answer = np.ones(self.num_classes)
            return
        counts = np.bincount(y.astype(np.int64), minlength=self.num_classes)
        self.answer = np.zeros(self.num_classes)
        self.answer[int(np.argmax(counts))] = 1.0  # argmax: the first of tied classes

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        if self.answer is None:
            raise RuntimeError("ConstantBaseline.predict_proba called before fit")
        return np.tile(self.answer, (len(x), 1))


def build(num_classes: int) -> ConstantBaseline:
    """A fresh, unfitted constant baseline."""
    return ConstantBaseline(num_classes)


card = ModelCard(
    name="constant",
    description="Majority class of the training fold (emotion tasks); every AU present (AU tasks).",
    reference="Varanka et al., MEB (TAFFC 2024): constant baseline",
    year=2024,
    view="flow28",
    num_params=0,
    recipe=Recipe(optimizer="none", lr=0.0, batch_size=1, epochs=0, weight_decay=0.0),
    framework="estimator",
    notes="Reads no input. Emotion: the training fold's majority class, ties to the lowest class "
    "index. AU tasks: all-positive (MEB's constant), so its AU-F1 is the mean over AUs of "
    "2p/(1+p) for each AU's held-out prevalence p. Deterministic: the seed is not used.",
)

spec = ModelSpec(card=card, build=build)
