"""Source `demo`: synthetic micro-expression videos through exactly the pipeline real data takes.

The first use generates CASME II-, SAMM- and SMIC-HS-shaped trees (`mer_bench.synth`) into the
cache, keyed by the generator's parameters; later uses find them there. Tables and arrays then come
from the `raw` source on those trees: the real loaders, face detection, TV-L1 flow and 28x28
reduction. `synthetic` is True, so protocols build their sample lists with their emotion rules.

Options (`SourceOptions.extra`): `subjects`, `difficulty` (easy | standard | hard), `seed` (the
data seed; default `SourceOptions.seed`), `clips_per_subject`, `progress`.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd

from mer_bench.cards import stable_hash
from mer_bench.data import InputArrays, Source
from mer_bench.errors import DataError
from mer_bench.sources.raw import RawSource
from mer_bench.synth.generate import GENERATOR_VERSION, SynthConfig, generate
from mer_bench.synth.writers import DATASET_DIRS

#: Written last into a generated tree; a tree without it is incomplete and is regenerated.
MARKER = "COMPLETE.json"


def demo_config(options: Any) -> SynthConfig:
    """The generator parameters of a run's demo, from `SourceOptions.extra` (defaults otherwise)."""
    extra = dict(getattr(options, "extra", {}) or {})
    defaults = SynthConfig()
    try:
        return SynthConfig(subjects=int(extra.get("subjects", defaults.subjects)),
                           seed=int(extra.get("seed", getattr(options, "seed", 0))),
                           difficulty=str(extra.get("difficulty", defaults.difficulty)),
                           clips_per_subject=int(extra.get("clips_per_subject", defaults.clips_per_subject)))
    except ValueError as exc:
        raise DataError(f"demo source: {exc}") from exc


def demo_dir(cache_dir: Path, config: SynthConfig) -> Path:
    """Where the demo for `config` lives: <cache>/demo/<hash of the parameters and generator version>."""
    return Path(cache_dir) / "demo" / stable_hash({"config": config, "generator": GENERATOR_VERSION})


def ensure_demo(cache_dir: Path, config: SynthConfig, progress: bool = False) -> Path:
    """Generate the demo trees unless a complete copy is cached; returns their folder."""
    root = demo_dir(cache_dir, config)
    if (root / MARKER).is_file():
        return root
    if root.exists():  # a half-written tree from an interrupted run
        shutil.rmtree(root)
    start = time.perf_counter()
    report = None
    if progress:
        from rich.console import Console

        console = Console(stderr=True)

        def report(done: int, total: int) -> None:
            if done == total or done % 20 == 0:
                console.print(f"demo: generated {done}/{total} clips", highlight=False)

    records = generate(root, subjects=config.subjects, seed=config.seed,
                       difficulty=config.difficulty, clips_per_subject=config.clips_per_subject,
                       progress=report)
    (root / MARKER).write_text(json.dumps({
        "config": {"subjects": config.subjects, "seed": config.seed, "difficulty": config.difficulty,
                   "clips_per_subject": config.clips_per_subject},
        "generator": GENERATOR_VERSION, "clips": len(records),
        "seconds": round(time.perf_counter() - start, 2),
    }, indent=2))
    return root


class DemoSource(Source):
    """Generated videos (cached) read by the `raw` source: loaders + standard preprocessing."""

    name = "demo"
    synthetic = True

    def __init__(self, options: Any) -> None:
        self.config = demo_config(options)
        progress = bool((getattr(options, "extra", {}) or {}).get("progress", True))
        self.root = ensure_demo(Path(options.cache_dir), self.config, progress=progress)
        roots = {dataset: self.root / folder for dataset, folder in DATASET_DIRS.items()}
        self.raw = RawSource(options, roots=roots, synthetic=True)

    def dataset_table(self, dataset: str) -> pd.DataFrame:
        if dataset not in DATASET_DIRS:
            raise DataError(f"source 'demo' has no dataset '{dataset}' (it has {', '.join(DATASET_DIRS)})")
        return self.raw.dataset_table(dataset)

    def arrays(self, samples: pd.DataFrame) -> InputArrays:
        return self.raw.arrays(samples)

    def provenance(self) -> dict[str, Any]:
        info = self.raw.provenance()
        info.update({"source": self.name, "synthetic": True, "demo_root": str(self.root),
                     "demo": {"subjects": self.config.subjects, "seed": self.config.seed,
                              "difficulty": self.config.difficulty,
                              "clips_per_subject": self.config.clips_per_subject,
                              "generator": GENERATOR_VERSION}})
        return info
