"""Speed of the standard preprocessing (mer_bench.data.preprocess) at the default configuration.

Builds N synthetic CASME II-like clips (640x480 JPEG frames, face box about 200 px, i.e. a face
region about 280x340 as in CASME II raw frames) from the public-domain astronaut photo, with a
small mouth-corner motion between onset and apex, then runs the full pipeline (read, detect,
landmarks, align, flow, strain, 28x28) with an empty cache, and reports samples per second and the
share of worker time per step. Each sample's frames differ (shifted, noised), so nothing is shared.

    python benchmarks/bench_preprocess.py --samples 40 --workers 1 2 [--flow tvl1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from mer_bench.data.preprocess import PreprocessConfig
from mer_bench.data.preprocess.frames import SampleFrames
from mer_bench.data.preprocess.view_pipeline import compute_views
from mer_bench.data.preprocess.views import default_view

#: The worker-time steps of the default view, in pipeline order.
STEPS = ("read", "detect", "landmarks", "align", "flow", "strain", "flow28")


def base_frame() -> np.ndarray:
    """640x480 grayscale frame with the astronaut's face (HOG box about 200 px) off-centre."""
    gray = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    big = cv2.resize(gray, None, fx=1.75, fy=1.75, interpolation=cv2.INTER_CUBIC)  # 896 px
    return np.ascontiguousarray(big[40:520, 80:720])


def make_clips(folder: Path, count: int, seed: int = 0) -> list[SampleFrames]:
    rng = np.random.default_rng(seed)
    base = base_frame().astype(np.float32)
    h, w = base.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for i in range(count):
        dx, dy = rng.uniform(-30, 30, size=2)
        onset = cv2.warpAffine(
            base, np.float32([[1, 0, dx], [0, 1, dy]]), (w, h), borderMode=cv2.BORDER_REPLICATE
        )
        # A smooth 1.5 px motion around the lower face (mouth region of the shifted face).
        cx, cy = 330 + dx, 330 + dy
        bump = np.exp(-((xx - cx) ** 2 / (2 * 60.0**2) + (yy - cy) ** 2 / (2 * 25.0**2)))
        map_x = (xx - 1.5 * bump * np.sign(xx - cx)).astype(np.float32)
        apex = cv2.remap(
            onset,
            map_x,
            (yy + 1.0 * bump).astype(np.float32),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        paths = []
        for name, image in (("img1.jpg", onset), ("img2.jpg", apex)):
            noisy = np.clip(image + rng.normal(0, 2.0, image.shape), 0, 255).astype(np.uint8)
            path = folder / f"clip{i:04d}" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), noisy, [cv2.IMWRITE_JPEG_QUALITY, 95])
            paths.append(path)
        frames.append(SampleFrames("casme2", f"clip{i:04d}", paths[0], paths[1], "number"))
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--flow", default="tvl1", choices=["tvl1", "farneback", "dis"])
    args = parser.parse_args()
    config = PreprocessConfig().with_flow_method(args.flow)
    with tempfile.TemporaryDirectory() as tmp:
        frames = make_clips(Path(tmp) / "frames", args.samples)
        print(
            f"{args.samples} samples, 640x480 frames, flow {args.flow}, "
            f"crop {config.align.size} px, config {config.hash()}"
        )
        for workers in args.workers:
            cache = Path(tmp) / f"cache{workers}"
            result = compute_views(frames, [default_view()], config, cache, workers=workers)
            s = result.summary
            rate = s.samples / s.seconds
            total = sum(s.step_seconds.values())
            shares = ", ".join(f"{k} {100 * s.step_seconds.get(k, 0) / total:.0f}%" for k in STEPS)
            per = 1000 * total / s.samples
            print(
                f"workers {workers}: {rate:.2f} samples/s ({s.seconds:.1f} s wall; "
                f"{per:.0f} ms worker time per sample; fallbacks {s.fallbacks or 0})"
            )
            print(f"  share of worker time: {shares}")
            print(f"  442-sample composite at this rate: {442 / rate:.0f} s")
            start = time.perf_counter()
            again = compute_views(frames, [default_view()], config, cache, workers=workers)
            assert sum(again.summary.computed.values()) == 0
            print(f"  cached re-run: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
