"""flow-cnn: a small learned spotter, a 1-D CNN on the windowed region-flow signal, trained LOSO.

Read top to bottom as the method:
1. The view's six region signals of a video are resampled to `RATE` frames per second (so 30 and
   200 fps videos look alike) and divided by their per-video median (cameras and faces differ).
2. A 1-D CNN (dilated convolutions, receptive field about 1.5 s) gives each frame the probability
   of lying inside an expression; it is trained on the training subjects' frames (label 1 inside
   an annotated interval), with the positive class weighted by its rarity.
3. Frames above `threshold` form runs; each run longer than `MIN_SECONDS` is an interval, mapped
   back to the video's frame numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mer_bench.data.longvideo.model import Expression
from mer_bench.data.longvideo.motion import REGIONS, RegionMotionConfig, VideoMotion
from mer_bench.run.spotting.spotter import SpotterCard, SpotterSpec

RATE = 30.0  # frames per second the CNN sees
MIN_SECONDS = 0.15
EPOCHS = 60


def _resample(values: np.ndarray, fps: float) -> np.ndarray:
    """(n, R) at fps -> (m, R) at RATE by linear interpolation, divided by the median."""
    n = len(values)
    m = max(2, round(n * RATE / fps))
    src = np.linspace(0, n - 1, m)
    out = np.stack([np.interp(src, np.arange(n), values[:, r]) for r in range(values.shape[1])], 1)
    return (out / max(float(np.median(out)), 1e-6)).astype(np.float32)


def _labels(motion: VideoMotion, expressions: Sequence[Expression], m: int) -> np.ndarray:
    video = motion.video
    times = np.linspace(video.first, video.last, m)
    y = np.zeros(m, np.float32)
    for e in expressions:
        y[(times >= e.onset) & (times <= e.offset)] = 1.0
    return y


def _network(channels: int, seed: int):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv1d(channels, 16, 5, padding=2),
        nn.ReLU(),
        nn.Conv1d(16, 16, 5, padding=4, dilation=2),
        nn.ReLU(),
        nn.Conv1d(16, 16, 5, padding=8, dilation=4),
        nn.ReLU(),
        nn.Conv1d(16, 1, 1),
    )


class FlowCnnSpotter:
    """A per-frame expression detector on the region signals (see the module's docstring)."""

    def __init__(self, view: RegionMotionConfig, threshold: float = 0.5) -> None:
        self.view = view
        self.threshold = threshold
        self.net = None

    def fit(
        self, videos: Sequence[VideoMotion], truth: Sequence[Sequence[Expression]], seed: int
    ) -> None:
        import torch

        xs = [_resample(v.values, v.video.fps) for v in videos]
        ys = [_labels(v, t, len(x)) for v, x, t in zip(videos, xs, truth)]
        self.net = _network(len(REGIONS), seed)
        positive = sum(float(y.sum()) for y in ys)
        total = sum(len(y) for y in ys)
        weight = torch.tensor((total - positive) / max(positive, 1.0))
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=weight)
        optimiser = torch.optim.Adam(self.net.parameters(), lr=3e-3)
        batch = [
            (torch.from_numpy(x.T[None]), torch.from_numpy(y[None, None])) for x, y in zip(xs, ys)
        ]
        self.net.train()
        for _ in range(EPOCHS):
            for x, y in batch:  # one video a step: videos differ in length
                optimiser.zero_grad()
                loss_fn(self.net(x), y).backward()
                optimiser.step()
        self.net.eval()

    def predict(self, video: VideoMotion) -> list[tuple[int, int]]:
        import torch

        if self.net is None:
            raise RuntimeError("flow-cnn: predict before fit")
        x = _resample(video.values, video.video.fps)
        with torch.no_grad():
            p = torch.sigmoid(self.net(torch.from_numpy(x.T[None])))[0, 0].numpy()
        on = p > self.threshold
        times = np.linspace(video.video.first, video.video.last, len(x))
        intervals, start = [], None
        for i, flag in enumerate(np.append(on, False)):
            if flag and start is None:
                start = i
            elif not flag and start is not None:
                if (i - start) / RATE >= MIN_SECONDS:
                    intervals.append((int(np.rint(times[start])), int(np.rint(times[i - 1]))))
                start = None
        return intervals


spec = SpotterSpec(
    card=SpotterCard(
        name="flow-cnn",
        description="Small dilated 1-D CNN on region-flow signals, per-frame expression probability, trained LOSO",
        reference="mer-bench baseline (in the spirit of MEGC's learned spotters, e.g. SoftNet 2022)",
        year=2022,
        view_params={},
        trainable=True,
        notes="Trained on the training subjects of each fold; 60 epochs, Adam 3e-3, one video a step.",
    ),
    build=lambda: FlowCnnSpotter(RegionMotionConfig()),
)
