"""Spotting speed on the demo's long videos: seconds per minute of video, on this machine.

Measures, per dataset of the demo (`LongSynthConfig()` defaults, generated into --cache-dir if
it is not there yet):
- the view: streaming the frames, face crop, Farneback flow of each frame pair, region means
  (a LOSO run on an emptied motion cache, less the same run on the filled cache);
- the spotter: flow-peak's LOSO fits (threshold grid) and predictions on the cached views;
- with --model, spot-then-recognise: the whole `run_str` (views cached, recognition preprocessing
  and per-fold training included).
Then prints a markdown table (and writes it with --out).

    python benchmarks/spotting_speed.py --cache-dir /tmp/bench-cache [--model svm-hoof] [--out F]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, required=True)
    parser.add_argument("--model", default=None, help="also time STR with this flow28 model")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import torch

    from mer_bench.data.longvideo import load_long_videos
    from mer_bench.data.longvideo.synth import LongSynthConfig, ensure_long_demo
    from mer_bench.run.spotting.runner import run_spotting

    torch.set_num_threads(1)
    config = LongSynthConfig()
    start = time.perf_counter()
    roots = ensure_long_demo(args.cache_dir, config)
    generate = time.perf_counter() - start
    rows = []
    for dataset, protocol in (("casme2-lv", "casme2-lv-spotting"), ("samm-lv", "samm-lv-spotting")):
        found = load_long_videos(dataset, roots[dataset])
        minutes = sum(v.minutes for v in found.videos.values())
        # First run: the views are computed (the motion cache is emptied first), then spotted;
        # second run: the views come from the cache, so it times the spotter alone.
        shutil.rmtree(Path(args.cache_dir) / "spotting-motion", ignore_errors=True)
        t = time.perf_counter()
        run_spotting("flow-peak", protocol, "demo", cache_dir=args.cache_dir)
        first = time.perf_counter() - t
        t = time.perf_counter()
        run = run_spotting("flow-peak", protocol, "demo", cache_dir=args.cache_dir)
        spot = time.perf_counter() - t
        view = first - spot
        row = {
            "dataset": dataset,
            "videos": len(found.videos),
            "minutes": minutes,
            "fps": found.fps,
            "view": view / minutes,
            "spot": spot / minutes,
            "f1": run.report.f1,
            "chance": run.chance_f1,
            "str": None,
            "strs": None,
        }
        if args.model and dataset == "casme2-lv":
            from mer_bench.run.spotting.str_run import run_str

            t = time.perf_counter()
            result = run_str(
                "flow-peak",
                args.model,
                protocol,
                "demo",
                cache_dir=args.cache_dir,
                epochs=args.epochs,
            )
            row["str"] = (time.perf_counter() - t) / minutes
            row["strs"] = result.report.strs
        rows.append(row)
    lines = [
        f"Demo long videos (LongSynthConfig defaults), {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, torch threads 1; demo generated in {generate:.0f} s"
        + (" (cached)" if generate < 1 else ""),
        "",
        "| dataset | videos | minutes | fps | view s/min | flow-peak LOSO s/min | F1 | chance F1 |"
        + (f" STR ({args.model}) s/min | STRS |" if args.model else ""),
        "|---|---|---|---|---|---|---|---|" + ("---|---|" if args.model else ""),
    ]
    for r in rows:
        line = (
            f"| {r['dataset']} | {r['videos']} | {r['minutes']:.2f} | {r['fps']:g} | "
            f"{r['view']:.1f} | {r['spot']:.2f} | {r['f1']:.3f} | {r['chance']:.3f} |"
        )
        if args.model:
            line += f" {r['str']:.1f} | {r['strs']:.3f} |" if r["str"] is not None else " - | - |"
        lines.append(line)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
