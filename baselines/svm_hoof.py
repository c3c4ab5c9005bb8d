"""A classical baseline: a linear SVM on histograms of oriented optical flow (HOOF) over a face grid.

    flow28 (channels strain, v, u as `mer_bench.data.contract.FLOW28_CHANNELS`; 0-255 flow images)
      -> centre u and v on their per-image median (the images are min-max scaled per sample, so
         zero motion is not a fixed grey level; most of a face does not move)
      -> per pixel: magnitude sqrt(u^2 + v^2) and orientation atan2(v, u) in 8 bins of 45 degrees
      -> a 4x4 grid of 7x7 cells: per cell, the magnitude-weighted orientation histogram (128)
         and the mean centred strain (16)
      -> each of the two blocks divided by its total absolute mass (invariant to the per-image
         scale of the flow images)
      -> StandardScaler -> SVC(kernel="linear", C=1, class_weight="balanced")

It is an estimator (card.framework "estimator"): the engine calls `fit(x, y, seed)` once per fold
and `predict_proba(x)` once on the held-out subject; the fold loop, seeds and storage stay the
harness's. Histograms of oriented flow follow Chaudhry et al. (CVPR 2009); the magnitude weighting
and the face grid are the usual MER reading of them (cf. Bi-WOOF, Liong et al. 2018, and MDMO).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mer_bench.core.cards import ModelCard, ModelSpec, Recipe
from mer_bench.data.contract import CHANNEL_STRAIN, CHANNEL_U, CHANNEL_V

if TYPE_CHECKING:  # scikit-learn is imported when a model is fitted: listing stays quick
    from sklearn.pipeline import Pipeline

N_BINS = 8
GRID = 4
CELL = 28 // GRID
_EPS = 1e-8


def cell_index(size: int = 28, grid: int = GRID) -> np.ndarray:
    """(size, size) map from pixel to its grid cell, row-major: cell = (row // c) * grid + col // c."""
    c = size // grid
    rows, cols = np.indices((size, size))
    return (rows // c) * grid + cols // c


def hoof_features(flow: np.ndarray) -> np.ndarray:
    """(N, GRID*GRID*(N_BINS + 1)) features from (N, 3, 28, 28) flow28 arrays (see module doc)."""
    flow = np.asarray(flow, dtype=np.float64)
    if flow.ndim != 4 or flow.shape[1:] != (3, 28, 28):
        raise ValueError(f"hoof_features expects (N, 3, 28, 28) flow, got {flow.shape}")
    n = len(flow)
    centred = flow - np.median(flow.reshape(n, 3, -1), axis=2)[:, :, None, None]
    u, v, strain = centred[:, CHANNEL_U], centred[:, CHANNEL_V], centred[:, CHANNEL_STRAIN]
    magnitude = np.hypot(u, v)
    angle = np.arctan2(v, u)  # [-pi, pi]
    bins = np.floor((angle + np.pi) / (2 * np.pi) * N_BINS).astype(np.int64) % N_BINS
    cells = GRID * GRID
    index = cell_index()[None] * N_BINS + bins  # (N, 28, 28) in [0, cells * N_BINS)
    index = index + (np.arange(n) * cells * N_BINS)[:, None, None]
    hist = np.bincount(index.ravel(), weights=magnitude.ravel(), minlength=n * cells * N_BINS)
    hist = hist.reshape(n, cells * N_BINS)
    hist /= hist.sum(axis=1, keepdims=True) + _EPS
    cell_of = (
        np.broadcast_to(cell_index()[None], strain.shape) + (np.arange(n) * cells)[:, None, None]
    )
    strain_sum = np.bincount(cell_of.ravel(), weights=strain.ravel(), minlength=n * cells)
    strain_mean = strain_sum.reshape(n, cells) / (CELL * CELL)
    strain_mean /= np.abs(strain_mean).sum(axis=1, keepdims=True) + _EPS
    return np.concatenate([hist, strain_mean], axis=1).astype(np.float32)


class HOOFSVM:
    """Estimator interface of mer-bench: `fit(x, y, seed)` and `predict_proba(x) -> (N, C)`.

    Probabilities are the softmax of the SVM's one-vs-rest decision values (not calibrated; their
    argmax is the SVM's prediction). Classes missing from a fold's training part get probability 0.
    """

    def __init__(self, num_classes: int, c: float = 1.0) -> None:
        self.num_classes = num_classes
        self.c = c
        self.pipeline: Pipeline | None = None
        self.classes_: np.ndarray | None = None

    def fit(self, x: np.ndarray, y: np.ndarray, seed: int) -> None:
        y = np.asarray(y, dtype=np.int64)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:  # nothing to separate: predict the only class seen
            self.pipeline = None
            return
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        # random_state only matters for probability=True (not used): the linear SVC is deterministic.
        svc = SVC(
            kernel="linear",
            C=self.c,
            class_weight="balanced",
            decision_function_shape="ovr",
            random_state=seed,
        )
        self.pipeline = make_pipeline(StandardScaler(), svc)
        self.pipeline.fit(hoof_features(x), y)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        if self.classes_ is None:
            raise RuntimeError("HOOFSVM.predict_proba called before fit")
        n = len(x)
        probs = np.zeros((n, self.num_classes))
        if self.pipeline is None:
            probs[:, self.classes_[0]] = 1.0
            return probs
        scores = np.asarray(self.pipeline.decision_function(hoof_features(x)), dtype=np.float64)
        if scores.ndim == 1:  # two classes: positive means classes_[1]
            scores = np.stack([-scores, scores], axis=1) / 2
        scores = scores - scores.max(axis=1, keepdims=True)
        e = np.exp(scores)
        probs[:, self.classes_] = e / e.sum(axis=1, keepdims=True)
        return probs


def build(num_classes: int) -> HOOFSVM:
    """A fresh, unfitted HOOF + linear SVM estimator."""
    return HOOFSVM(num_classes)


NOTES = (
    "Features (our design, in the spirit of HOOF / Bi-WOOF): magnitude-weighted 8-bin histograms "
    "of flow orientation over a 4x4 grid of 7x7 cells (128 values) plus mean optical strain per "
    "cell (16), on flow28 centred per image on its median; each block L1-normalised. Classifier: "
    "StandardScaler + linear SVC, C=1, class_weight='balanced' (our choice; the MEGC2019 LBP-TOP "
    "and Bi-WOOF baselines also use linear SVMs). predict_proba is the softmax of the one-vs-rest "
    "decision values, uncalibrated; its argmax is the SVM's decision. Deterministic: the seed is "
    "accepted but a linear SVC without probability calibration uses no randomness. "
    "num_params is 0: a kernel SVM is non-parametric; the fitted model keeps support vectors "
    "(at most the number of training samples, times 144 features) plus 144 scaler means and "
    "scales, all data-dependent. The recipe's optimizer/epochs do not apply (trained once)."
)

card = ModelCard(
    name="svm-hoof",
    description="Linear SVM on magnitude-weighted histograms of oriented flow over a 4x4 face grid.",
    reference="Chaudhry et al., Histograms of Oriented Optical Flow, CVPR 2009; linear SVM as in "
    "the MEGC2019 hand-crafted baselines",
    year=2009,
    view="flow28",
    num_params=0,
    recipe=Recipe(optimizer="none", lr=0.0, batch_size=1, epochs=0, weight_decay=0.0),
    framework="estimator",
    notes=NOTES,
)

spec = ModelSpec(card=card, build=build)
