"""How many of the composite's faces get region points, and how far mer-bench's points fall
from those of HTNet's reference call (MTCNN on the face resized to 28x28).

    python benchmarks/face_points.py --data-root ~/src/HTNet   # a clone of HTNet's repository

MTCNN needs facenet-pytorch (`pip install --no-deps facenet-pytorch`); without it only
mer-bench's own detector is counted. Results: benchmarks/results/face_points.md.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mer_bench.core.errors import DataError
from mer_bench.core.registry import get_protocol
from mer_bench.data.sources import make_source
from mer_bench_htnet.regions import window_centres
from mer_bench_protocols.megc2019 import CLASSES

NAMES = ("left eye", "right eye", "nose", "left mouth", "right mouth")


def points(root: str, method: str, cache: str) -> tuple[np.ndarray, np.ndarray, float]:
    samples = get_protocol("megc2019").protocol.listed_samples(CLASSES)
    started = time.perf_counter()
    arrays = make_source("flows", data_root=root, face_points=method, cache_dir=cache).arrays(
        samples
    )
    return arrays.points, ~arrays.points_fallback, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument(
        "--cache-dir",
        default="/tmp/mer-bench-face-points",
        help="where points are cached (use a fresh folder to time detection)",
    )
    args = parser.parse_args()
    ours, found, seconds = points(args.data_root, "dlib", args.cache_dir)
    print(
        f"dlib (mer-bench): points found on {found.sum()} of {len(found)} faces ({seconds:.1f} s)"
    )
    try:
        ref, ref_found, seconds = points(args.data_root, "mtcnn", args.cache_dir)
    except DataError as exc:
        print(f"mtcnn: not measured ({exc})")
        return
    print(
        f"mtcnn (HTNet's call): points found on {ref_found.sum()} of {len(ref_found)} faces "
        f"({seconds:.1f} s)"
    )
    both = found & ref_found
    print(
        f"both found: {both.sum()}; dlib only: {(found & ~ref_found).sum()}; "
        f"mtcnn only: {(~found & ref_found).sum()}"
    )
    distance = np.linalg.norm(ours[both] - ref[both], axis=2)
    same = np.all(
        window_centres(ours[both], "points") == window_centres(ref[both], "points"), axis=2
    )
    print("| point | mean distance (28x28 px) | median | max |")
    print("|---|---:|---:|---:|")
    for k, name in enumerate(NAMES):
        print(
            f"| {name} | {distance[:, k].mean():.2f} | {np.median(distance[:, k]):.2f} | "
            f"{distance[:, k].max():.2f} |"
        )
    print(
        "Share of HTNet's four windows cut at the same place (after the [7, 21] clamp and "
        "truncation), left eye, left mouth, right eye, right mouth: "
        + ", ".join(f"{v:.0%}" for v in same.mean(axis=0))
    )


if __name__ == "__main__":
    main()
