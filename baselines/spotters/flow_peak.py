"""flow-peak: the classical spotter, a peak detector on facial-region flow magnitude (MDMD-style).

Read top to bottom as the method:
1. The view gives, per frame, the flow magnitude in landmark regions (head motion removed).
   The brows and mouth corners are averaged; the eyes are left out, since blinks are the
   strongest motion there and are not expressions.
2. The signal is detrended by a running median (`baseline_seconds`) and smoothed.
3. Threshold as in MDMD (Wang et al. 2017): T = mean + p x (max - mean), per video.
4. Every local maximum above T, at least `min_gap_seconds` from a higher one, is an expression;
   its interval runs from where the signal rises above half the peak to where it falls below it,
   moved earlier by the view's frame gap (the flow at frame t measures motion since t-k).
5. `fit` picks p on the training subjects: the value with the best F1 of IoU >= 0.5 hits
   (one-to-one, micro and macro together) over the grid `P_GRID`. Nothing else is learned.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mer_bench.data.longvideo.model import Expression
from mer_bench.data.longvideo.motion import REGIONS, RegionMotionConfig, VideoMotion
from mer_bench.results.spotting_metrics import Interval, SpotCounts, match_intervals
from mer_bench.run.spotting.spotter import SpotterCard, SpotterSpec

#: Regions averaged into the signal.
SIGNAL_REGIONS = ("left_brow", "right_brow", "left_mouth", "right_mouth")
#: Candidate values of MDMD's p, tried on the training subjects.
P_GRID = (0.02, 0.05, 0.08, 0.12, 0.16, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6)


def _running(x: np.ndarray, width: int, how: str) -> np.ndarray:
    """Centred running median or mean of `x` over `width` frames (edges: the window shrinks)."""
    if width <= 1:
        return x.copy()
    half = width // 2
    if how == "mean":
        kernel = np.ones(width) / width
        padded = np.pad(x, (half, width - 1 - half), mode="edge")
        return np.convolve(padded, kernel, mode="valid")
    # A strided median over a subsampled window keeps this O(n) on 200 fps videos.
    step = max(1, width // 31)
    padded = np.pad(x, (half, width - 1 - half), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, width)[:, ::step]
    return np.median(windows, axis=1)


class FlowPeakSpotter:
    """MDMD-style peak spotting on one signal per video (see the module's docstring)."""

    def __init__(
        self,
        view: RegionMotionConfig,
        baseline_seconds: float = 2.0,
        smooth_seconds: float = 0.1,
        min_gap_seconds: float = 0.5,
    ) -> None:
        self.view = view
        self.baseline_seconds = baseline_seconds
        self.smooth_seconds = smooth_seconds
        self.min_gap_seconds = min_gap_seconds
        self.p = 0.2  # before fit: a middle value of the grid

    def signal(self, motion: VideoMotion) -> np.ndarray:
        columns = [list(REGIONS).index(r) for r in SIGNAL_REGIONS]
        fps = motion.video.fps
        raw = motion.values[:, columns].mean(axis=1).astype(np.float64)
        detrended = np.clip(
            raw - _running(raw, round(self.baseline_seconds * fps), "median"), 0, None
        )
        return _running(detrended, max(1, round(self.smooth_seconds * fps)), "mean")

    def _spot(self, motion: VideoMotion, s: np.ndarray, p: float) -> list[tuple[int, int]]:
        fps, first = motion.video.fps, motion.video.first
        threshold = s.mean() + p * (s.max() - s.mean())
        gap = max(1, round(self.min_gap_seconds * fps))
        k = self.view.gap(fps)
        order = np.argsort(-s, kind="stable")
        taken: list[int] = []
        intervals = []
        for i in order:
            if s[i] <= threshold:
                break
            if (i > 0 and s[i - 1] > s[i]) or (i + 1 < len(s) and s[i + 1] > s[i]):
                continue  # not a local maximum
            if any(abs(int(i) - t) < gap for t in taken):
                continue
            taken.append(int(i))
            half = s[i] / 2
            a = int(i)
            while a > 0 and s[a - 1] > half:
                a -= 1
            b = int(i)
            while b + 1 < len(s) and s[b + 1] > half:
                b += 1
            a = max(0, a - k)
            intervals.append((first + a, first + b))
        return sorted(intervals)

    def fit(
        self, videos: Sequence[VideoMotion], truth: Sequence[Sequence[Expression]], seed: int
    ) -> None:
        signals = [self.signal(v) for v in videos]
        best = None
        for p in P_GRID:
            counts = SpotCounts()
            for motion, s, expressions in zip(videos, signals, truth):
                predicted = [Interval(a, b) for a, b in self._spot(motion, s, p)]
                gt = [Interval(e.onset, e.offset) for e in expressions]
                counts += SpotCounts(len(match_intervals(gt, predicted)), len(predicted), len(gt))
            f1 = 0.0 if np.isnan(counts.f1) else counts.f1
            if best is None or f1 > best[0]:
                best = (f1, p)
        self.p = best[1] if best is not None else self.p

    def predict(self, video: VideoMotion) -> list[tuple[int, int]]:
        return self._spot(video, self.signal(video), self.p)


VIEW = RegionMotionConfig()

spec = SpotterSpec(
    card=SpotterCard(
        name="flow-peak",
        description="MDMD-style peak detector on brow and mouth flow magnitude; threshold tuned LOSO",
        reference="Wang et al., MDMD, 2017 (thresholding rule); MEGC2020 spotting baseline",
        year=2017,
        view_params={},
        notes="Classical baseline: only MDMD's p is chosen, on the training subjects of each fold.",
    ),
    build=lambda: FlowPeakSpotter(VIEW),
)
