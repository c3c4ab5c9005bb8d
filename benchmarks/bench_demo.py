"""Hand-run: how long the demo takes to generate and preprocess, and how learnable it is.

    python benchmarks/bench_demo.py [--subjects 12] [--difficulties easy standard hard] [--workers 2]

Per difficulty: generation seconds, preprocessing seconds (the `raw` pipeline: dlib + TV-L1), and
UF1/UAR of a leave-one-subject-out logistic regression on the 28x28 flow, a quick stand-in for a
model run (`mer-bench run --source demo` gives the real numbers).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=None)
    parser.add_argument("--difficulties", nargs="+", default=["standard"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score, recall_score

    from mer_bench.data.resolve import protocol_samples
    from mer_bench.data.sources.demo import DemoOptions, DemoSource
    from mer_bench.data.synth.generate import DEFAULT_SUBJECTS
    from mer_bench_protocols.megc2019 import spec as megc2019

    torch.set_num_threads(1)
    subjects = args.subjects or DEFAULT_SUBJECTS
    print(
        f"{'difficulty':<10} {'clips':>5} {'samples':>7} {'gen s':>6} {'prep s':>6} {'UF1':>6} {'UAR':>6}"
    )
    for difficulty in args.difficulties:
        with tempfile.TemporaryDirectory() as cache:
            options = DemoOptions(
                cache_dir=Path(cache),
                workers=args.workers,
                subjects=subjects,
                difficulty=difficulty,
                seed=args.seed,
            )
            start = time.perf_counter()
            source = DemoSource(options)
            generated = time.perf_counter() - start
            clips = sum(len(source.dataset_table(d)) for d in ("smic", "casme2", "samm"))
            samples, _ = protocol_samples(megc2019, source)
            start = time.perf_counter()
            arrays = source.arrays(samples)
            prepared = time.perf_counter() - start
        x = arrays.flow.reshape(len(arrays), -1) / 255.0
        y = samples["label"].to_numpy()
        groups = (samples["dataset"] + ":" + samples["subject"]).to_numpy()
        pred = np.zeros_like(y)
        for g in np.unique(groups):
            test = groups == g
            model = LogisticRegression(C=0.1, max_iter=3000).fit(x[~test], y[~test])
            pred[test] = model.predict(x[test])
        uf1, uar = f1_score(y, pred, average="macro"), recall_score(y, pred, average="macro")
        print(
            f"{difficulty:<10} {clips:>5} {len(samples):>7} {generated:>6.1f} {prepared:>6.1f} "
            f"{uf1:>6.3f} {uar:>6.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
