"""Source `demo`: synthetic micro-expression videos through exactly the pipeline real data takes.

The first use generates CASME II-, SAMM- and SMIC-HS-shaped trees (`mer_bench.data.synth`) into the
cache, keyed by the generator's parameters; later uses find them there. Tables and arrays then come
from the `raw` source on those trees: the real loaders, face detection, TV-L1 flow and 28x28
reduction. Its sample ids are generated, so protocols build their sample lists with their
emotion rules. Options: `DemoOptions` (every generator parameter is part of the run's identity).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mer_bench.core.cache_files import build_folder, check_marker, read_marker, write_marker
from mer_bench.core.cards import stable_hash
from mer_bench.core.errors import DataError
from mer_bench.core.progress import task as progress_task
from mer_bench.data.contract import Source, ViewArrays
from mer_bench.data.preprocess.views import ViewConfig
from mer_bench.data.sources.options import identity_field
from mer_bench.data.sources.raw import PreprocessedOptions, RawSource
from mer_bench.data.naming import canonical_ids
from mer_bench.data.synth.generate import (
    DEFAULT_CLIPS_PER_SUBJECT,
    DEFAULT_SUBJECTS,
    GENERATOR_VERSION,
    SynthConfig,
    generate,
    plan,
)
from mer_bench.data.synth.motion import DIFFICULTIES
from mer_bench.data.synth.writers import DATASET_DIRS

log = logging.getLogger(__name__)

#: Written last into a generated tree: its parameters, clip count and every file's size and
#: sha256. A tree without it, or that differs from it, is incomplete and is generated again.
MARKER = "COMPLETE.json"
#: Frame files of the three layouts (CASME II and SAMM jpg, SMIC-HS bmp): a clip is a folder of them.
FRAME_SUFFIXES = (".jpg", ".bmp")


@dataclass(frozen=True)
class DemoOptions(PreprocessedOptions):
    """The generator's parameters (`mer-bench synth`) and the preprocessing."""

    subjects: int = identity_field(DEFAULT_SUBJECTS)
    difficulty: str = identity_field("standard")
    seed: int = identity_field(0)  # the data seed (not the run seed)
    clips_per_subject: int = identity_field(DEFAULT_CLIPS_PER_SUBJECT)

    option_help = {
        **PreprocessedOptions.option_help,
        "subjects": "synthetic subjects (also --demo-subjects)",
        "difficulty": "easy | standard | hard (also --demo-difficulty)",
        "seed": "the data's seed (not the run's)",
        "clips_per_subject": "clips generated per subject",
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.difficulty not in DIFFICULTIES:
            raise ValueError(
                f"--demo-difficulty must be one of {', '.join(DIFFICULTIES)}, got "
                f"{self.difficulty!r}"
            )
        if self.subjects < len(DATASET_DIRS):
            raise ValueError(
                f"the demo needs at least {len(DATASET_DIRS)} subjects (one per "
                f"dataset), got {self.subjects}"
            )
        if self.clips_per_subject < 1:
            raise ValueError(f"clips per subject must be at least 1, got {self.clips_per_subject}")

    def synth_config(self) -> SynthConfig:
        return SynthConfig(
            subjects=self.subjects,
            seed=self.seed,
            difficulty=self.difficulty,
            clips_per_subject=self.clips_per_subject,
        )


def demo_dir(cache_dir: Path, config: SynthConfig) -> Path:
    """Where the demo for `config` lives: <cache>/demo/<hash of the parameters and generator version>."""
    return (
        Path(cache_dir) / "demo" / stable_hash({"config": config, "generator": GENERATOR_VERSION})
    )


def ensure_demo(cache_dir: Path, config: SynthConfig, progress: bool = False) -> Path:
    """The demo trees of `config`, generated unless a complete copy is cached; their folder.

    Safe when several runs start at once on one cache: one process generates, into a temporary
    folder beside the target renamed into place when complete, under the target's lock; the
    others wait for it and reuse its trees. A cached tree is used only when it holds exactly the
    files its marker lists, with their checksums, and the marker's clip count; an incomplete or
    damaged one is generated again, with a notice naming it.
    """
    root = demo_dir(cache_dir, config)
    build_folder(
        root,
        lambda folder: verify_demo(folder, config),
        lambda folder: _generate_into(folder, root, config, progress),
        "demo",
    )
    return root


def _expected(config: SynthConfig) -> dict[str, Any]:
    return {
        "config": {
            "subjects": config.subjects,
            "seed": config.seed,
            "difficulty": config.difficulty,
            "clips_per_subject": config.clips_per_subject,
        },
        "generator": GENERATOR_VERSION,
    }


def verify_demo(root: Path, config: SynthConfig) -> str | None:
    """None when `root` is a complete demo of `config`; else what is wrong, in a few words."""
    problem = check_marker(root, MARKER, _expected(config))
    if problem is not None:
        return problem
    meta, _ = read_marker(root, MARKER)
    assert meta is not None
    clips = len(
        {
            str(Path(rel).parent)
            for rel in meta["files"]
            if Path(rel).suffix.lower() in FRAME_SUFFIXES
        }
    )
    if clips != meta.get("clips"):
        return f"{clips} clips with frames, the marker says {meta.get('clips')}"
    return None


def _generate_into(folder: Path, root: Path, config: SynthConfig, progress: bool) -> None:
    """Generate the trees and their marker into `folder` (a temporary folder, renamed to
    `root` once complete)."""
    start = time.perf_counter()
    log.info(
        "generating the synthetic demo (%d subjects, %s) into %s",
        config.subjects,
        config.difficulty,
        root,
    )
    bar = progress_task("generating the demo", None) if progress else None

    def report(done: int, total: int) -> None:
        bar.update(completed=done, total=total)

    try:
        records = generate(
            folder,
            subjects=config.subjects,
            seed=config.seed,
            difficulty=config.difficulty,
            clips_per_subject=config.clips_per_subject,
            progress=report if bar is not None else None,
        )
    finally:
        if bar is not None:
            bar.close()
    write_marker(
        folder,
        MARKER,
        {
            **_expected(config),
            "clips": len(records),
            "seconds": round(time.perf_counter() - start, 2),
        },
    )


class DemoSource(Source):
    """Generated videos (cached) read by the `raw` source: loaders + standard preprocessing."""

    name = "demo"
    description = "synthetic micro-expression videos in the owners' layouts (no licensed data)"
    sample_ids = "generated"
    Options = DemoOptions

    def __init__(self, options: DemoOptions) -> None:
        self.config = options.synth_config()
        self.root = ensure_demo(Path(options.cache_dir), self.config, progress=options.progress)
        roots = {dataset: self.root / folder for dataset, folder in DATASET_DIRS.items()}
        self.raw = RawSource(options, roots=roots)

    @classmethod
    def planned_tables(cls, data: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
        """The demo's annotation tables for the identity options `data`, from the generator's
        plan (labels are a function of the demo options): no video is rendered, nothing is
        read from the cache. Columns as the loaders give them: subject, sample, emotion
        (lower-case) and objective_class (SAMM's sheet)."""
        defaults = SynthConfig()
        try:
            config = SynthConfig(
                subjects=int(data.get("subjects", defaults.subjects)),
                seed=int(data.get("seed", defaults.seed)),
                difficulty=str(data.get("difficulty", defaults.difficulty)),
                clips_per_subject=int(data.get("clips_per_subject", defaults.clips_per_subject)),
            )
        except (TypeError, ValueError) as exc:
            raise DataError(f"demo options {dict(data)} do not describe a demo ({exc})") from None
        rows: dict[str, list[dict[str, str]]] = {d: [] for d in DATASET_DIRS}
        for clip in plan(config):
            r = clip.record
            subject, sample = canonical_ids(r.dataset, r.subject, r.clip)[1:]
            rows[r.dataset].append(
                {
                    "subject": subject,
                    "sample": sample,
                    "emotion": r.emotion.strip().lower(),
                    "objective_class": str(r.objective_class),
                }
            )
        return {
            d: pd.DataFrame(v, columns=["subject", "sample", "emotion", "objective_class"])
            for d, v in rows.items()
        }

    def has_dataset(self, dataset: str) -> bool:
        return dataset in DATASET_DIRS

    def dataset_table(self, dataset: str) -> pd.DataFrame:
        if dataset not in DATASET_DIRS:
            raise DataError(
                f"source 'demo' has no dataset '{dataset}' (it has {', '.join(DATASET_DIRS)})"
            )
        return self.raw.dataset_table(dataset)

    def arrays(self, samples: pd.DataFrame, view: ViewConfig | None = None) -> ViewArrays:
        return self.raw.arrays(samples, view)

    def provenance(self) -> dict[str, Any]:
        info = self.raw.provenance()
        info.update(
            {
                "source": self.name,
                "synthetic": True,
                "demo_root": str(self.root),
                "demo": {
                    "subjects": self.config.subjects,
                    "seed": self.config.seed,
                    "difficulty": self.config.difficulty,
                    "clips_per_subject": self.config.clips_per_subject,
                    "generator": GENERATOR_VERSION,
                },
            }
        )
        return info
