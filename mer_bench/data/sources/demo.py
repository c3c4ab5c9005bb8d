"""Source `demo`: synthetic micro-expression videos through exactly the pipeline real data takes.

The first use generates CASME II-, SAMM- and SMIC-HS-shaped trees (`mer_bench.data.synth`) into the
cache, keyed by the generator's parameters; later uses find them there. Tables and arrays then come
from the `raw` source on those trees: the real loaders, face detection, TV-L1 flow and 28x28
reduction. Its sample ids are generated, so protocols build their sample lists with their
emotion rules. Options: `DemoOptions` (every generator parameter is part of the run's identity).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mer_bench.core.cache_files import (check_manifest, folder_lock, install_folder,
                                        remove_leftovers, temporary_folder, tree_manifest,
                                        usable_folder, write_failed)
from mer_bench.core.cards import stable_hash
from mer_bench.data.contract import InputArrays, Source
from mer_bench.core.errors import DataError
from mer_bench.core.progress import task as progress_task
from mer_bench.data.preprocess.view_store import ViewArrays
from mer_bench.data.preprocess.views import ViewConfig
from mer_bench.data.sources.options import identity_field
from mer_bench.data.sources.raw import PreprocessedOptions, RawSource
from mer_bench.data.synth.generate import (DEFAULT_CLIPS_PER_SUBJECT, DEFAULT_SUBJECTS,
                                      GENERATOR_VERSION, SynthConfig, generate)
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

    option_help = {**PreprocessedOptions.option_help,
                   "subjects": "synthetic subjects (also --demo-subjects)",
                   "difficulty": "easy | standard | hard (also --demo-difficulty)",
                   "seed": "the data's seed (not the run's)",
                   "clips_per_subject": "clips generated per subject"}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.difficulty not in DIFFICULTIES:
            raise ValueError(f"--demo-difficulty must be one of {', '.join(DIFFICULTIES)}, got "
                             f"{self.difficulty!r}")
        if self.subjects < len(DATASET_DIRS):
            raise ValueError(f"the demo needs at least {len(DATASET_DIRS)} subjects (one per "
                             f"dataset), got {self.subjects}")
        if self.clips_per_subject < 1:
            raise ValueError(f"clips per subject must be at least 1, got {self.clips_per_subject}")

    def synth_config(self) -> SynthConfig:
        return SynthConfig(subjects=self.subjects, seed=self.seed, difficulty=self.difficulty,
                           clips_per_subject=self.clips_per_subject)


def demo_dir(cache_dir: Path, config: SynthConfig) -> Path:
    """Where the demo for `config` lives: <cache>/demo/<hash of the parameters and generator version>."""
    return Path(cache_dir) / "demo" / stable_hash({"config": config, "generator": GENERATOR_VERSION})


def ensure_demo(cache_dir: Path, config: SynthConfig, progress: bool = False) -> Path:
    """The demo trees of `config`, generated unless a complete copy is cached; their folder.

    Safe when several runs start at once on one cache: one process generates, into a temporary
    folder beside the target renamed into place when complete, under the target's lock; the
    others wait for it and reuse its trees. A cached tree is used only when it holds exactly the
    files its marker lists, with their checksums, and the marker's clip count; an incomplete or
    damaged one is generated again, with a notice naming it.
    """
    root = demo_dir(cache_dir, config)
    if verify_demo(root, config) is None:
        return root
    usable_folder(root.parent)
    with folder_lock(root):
        problem = verify_demo(root, config)  # another process may have generated it meanwhile
        if problem is None:
            return root
        remove_leftovers(root)
        if root.exists() or root.is_symlink():
            log.warning("the cached demo %s is incomplete or damaged (%s): generating it again",
                        root, problem)
        _generate_into(root, config, progress)
    problem = verify_demo(root, config)
    if problem is not None:  # written and checked under the lock: the file system failed us
        raise DataError(f"the demo generated into {root} does not verify ({problem})")
    return root


def verify_demo(root: Path, config: SynthConfig) -> str | None:
    """None when `root` is a complete demo of `config`; else what is wrong, in a few words."""
    marker = root / MARKER
    if not root.is_dir():
        return "absent" if not (root.exists() or root.is_symlink()) else "not a folder"
    try:
        meta = json.loads(marker.read_text())
    except FileNotFoundError:
        return f"no {MARKER}: an interrupted generation"
    except (OSError, ValueError) as exc:
        return f"unreadable {MARKER} ({exc})"
    if not isinstance(meta, dict) or not isinstance(meta.get("files"), dict):
        return f"{MARKER} lists no checksums (written by an earlier mer-bench)"
    expected = {"subjects": config.subjects, "seed": config.seed,
                "difficulty": config.difficulty, "clips_per_subject": config.clips_per_subject}
    if meta.get("config") != expected or meta.get("generator") != GENERATOR_VERSION:
        return f"{MARKER} describes another demo"
    clips = _clip_count(root, meta)
    if clips != meta.get("clips"):
        return f"{clips} clips with frames, the marker says {meta.get('clips')}"
    return check_manifest(root, meta["files"], skip=(MARKER,))


def _clip_count(root: Path, meta: dict[str, Any]) -> int:
    """Clip folders (the folders that hold frames) listed in the marker's files."""
    return len({str(Path(rel).parent) for rel in meta["files"]
                if Path(rel).suffix.lower() in FRAME_SUFFIXES})


def _generate_into(root: Path, config: SynthConfig, progress: bool) -> None:
    """Generate the trees into a temporary folder beside `root`, then rename it into place."""
    start = time.perf_counter()
    log.info("generating the synthetic demo (%d subjects, %s) into %s", config.subjects,
             config.difficulty, root)
    building = temporary_folder(root)
    bar = progress_task("generating the demo", None) if progress else None

    def report(done: int, total: int) -> None:
        bar.update(completed=done, total=total)

    try:
        try:
            records = generate(building, subjects=config.subjects, seed=config.seed,
                               difficulty=config.difficulty,
                               clips_per_subject=config.clips_per_subject,
                               progress=report if bar is not None else None)
            (building / MARKER).write_text(json.dumps({
                "config": {"subjects": config.subjects, "seed": config.seed,
                           "difficulty": config.difficulty,
                           "clips_per_subject": config.clips_per_subject},
                "generator": GENERATOR_VERSION, "clips": len(records),
                "seconds": round(time.perf_counter() - start, 2),
                "files": tree_manifest(building, skip=(MARKER,)),
            }, indent=1))
        except OSError as exc:
            raise write_failed(Path(exc.filename or building), exc) from None
        finally:
            if bar is not None:
                bar.close()
        install_folder(building, root)
    finally:
        shutil.rmtree(building, ignore_errors=True)  # gone unless generation failed


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

    def dataset_table(self, dataset: str) -> pd.DataFrame:
        if dataset not in DATASET_DIRS:
            raise DataError(f"source 'demo' has no dataset '{dataset}' (it has {', '.join(DATASET_DIRS)})")
        return self.raw.dataset_table(dataset)

    def arrays(self, samples: pd.DataFrame, view: ViewConfig | None = None
               ) -> InputArrays | ViewArrays:
        return self.raw.arrays(samples, view)

    def provenance(self) -> dict[str, Any]:
        info = self.raw.provenance()
        info.update({"source": self.name, "synthetic": True, "demo_root": str(self.root),
                     "demo": {"subjects": self.config.subjects, "seed": self.config.seed,
                              "difficulty": self.config.difficulty,
                              "clips_per_subject": self.config.clips_per_subject,
                              "generator": GENERATOR_VERSION}})
        return info
