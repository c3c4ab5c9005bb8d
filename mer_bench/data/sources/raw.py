"""Source `raw`: the datasets' own frames, preprocessed by mer-bench's standard pipeline.

Dataset tables come from the loaders (`mer_bench.data.datasets.load_dataset`) with roots from
`--data-root` / per-dataset roots (`mer_bench.data.datasets.resolve_dataset_roots`). `arrays` joins a
protocol's samples with those tables (onset, apex, frames) and runs the cached, parallel pipeline
(`mer_bench.data.preprocess.view_pipeline`) for the view asked for. The demo source reads its generated trees through this class,
passing explicit roots.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mer_bench.core.cache_files import folder_lock, usable_folder
from mer_bench.core.cards import stable_hash
from mer_bench.core.errors import DataError
from mer_bench.data.contract import Source, ViewArrays
from mer_bench.data.naming import canonical_ids
from mer_bench.data.preprocess.config import FLOW_METHODS, PreprocessConfig
from mer_bench.data.preprocess.frames import SampleFrames, select_frames
from mer_bench.data.preprocess.view_pipeline import ViewsSummary, compute_views
from mer_bench.data.preprocess.views import ViewConfig, default_view, view_hash
from mer_bench.data.sources.options import SourceOptions, identity_field

TableLoader = Callable[[str, Path], pd.DataFrame]


@dataclass(frozen=True)
class PreprocessedOptions(SourceOptions):
    """The preprocessing of frames into arrays (part of the run's identity). `flow_method`
    overrides the method of `preprocessing` (`--flow`)."""

    flow_method: str = identity_field("tvl1")
    preprocessing: PreprocessConfig = identity_field(default_factory=PreprocessConfig)
    #: Key-frame robustness (`mer_bench.data.jitter`): move each apex by a seeded offset in
    #: [-apex_jitter, apex_jitter] frames; in the run's identity only when not 0.
    apex_jitter: int = identity_field(0, omit_at_default=True)
    jitter_seed: int = identity_field(0, only_with="apex_jitter")

    option_help = {
        **SourceOptions.option_help,
        "flow_method": "optical flow: tvl1 (default) | farneback | dis (also --flow)",
        "preprocessing": "the preprocessing configuration (faces, sizes, flow)",
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.apex_jitter < 0:
            raise ValueError(f"--apex-jitter must be at least 0, got {self.apex_jitter}")
        if self.flow_method not in FLOW_METHODS:
            raise ValueError(
                f"--flow must be one of {', '.join(FLOW_METHODS)}, got {self.flow_method!r}"
            )
        object.__setattr__(
            self, "preprocessing", self.preprocessing.with_flow_method(self.flow_method)
        )


@dataclass(frozen=True)
class RawOptions(PreprocessedOptions):
    """Where the datasets are (`--data-root`, `--dataset-root NAME=DIR`; see
    `mer_bench.data.datasets.locations`): a location, not part of the identity."""

    data_root: Path | None = None
    dataset_roots: Mapping[str, Path] = field(default_factory=dict)

    option_help = {
        **PreprocessedOptions.option_help,
        "data_root": "folder of the datasets' folders (also --data-root)",
        "dataset_roots": 'one dataset\'s folder, as JSON {"casme2": "DIR"} '
        "(also --dataset-root NAME=DIR)",
    }


class RawSource(Source):
    """Frames on disk -> standard preprocessing (faces, TV-L1 flow, strain, 28x28) -> arrays."""

    name = "raw"
    description = "the datasets as their owners ship them, with the standard preprocessing"
    sample_ids = "real"
    Options = RawOptions

    def __init__(
        self,
        options: PreprocessedOptions,
        roots: Mapping[str, Path] | None = None,
        loader: TableLoader | None = None,
    ) -> None:
        self.options = options
        self._roots = dict(roots) if roots is not None else None
        self._explicit_roots = roots is not None
        self._loader = loader
        self.config = options.preprocessing
        self.cache_dir = Path(options.cache_dir) / "preprocess"
        self.workers = options.workers
        self.progress = options.progress
        self._tables: dict[str, pd.DataFrame] = {}
        self.last_summary: ViewsSummary | None = None
        self._fallback_samples: dict[str, str] = {}
        self._view: ViewConfig | None = None
        self._view_notes: dict[str, list[str]] = {}
        self._jitter_counts = {"samples": 0, "moved": 0, "clamped": 0}

    # --- tables ---
    def roots(self) -> dict[str, Path]:
        """Dataset name -> root folder (explicit mapping, else resolved from the options)."""
        if self._roots is None:
            from mer_bench.data.datasets import resolve_dataset_roots

            self._roots = dict(resolve_dataset_roots(self.options))
        return self._roots

    def has_dataset(self, dataset: str) -> bool:
        return self.roots().get(dataset) is not None

    def dataset_table(self, dataset: str) -> pd.DataFrame:
        if dataset not in self._tables:
            root = self.roots().get(dataset)
            if root is None:
                raise DataError(self._not_found(dataset))
            loader = self._loader
            if loader is None:
                from mer_bench.data.datasets import load_dataset

                loader = load_dataset
            self._tables[dataset] = loader(dataset, Path(root))
        return self._tables[dataset]

    def _not_found(self, dataset: str) -> str:
        looked = ""
        if not self._explicit_roots:
            from mer_bench.data.datasets.locations import locate

            places = locate(dataset, self.options).looked
            looked = f" (looked in {', '.join(places)})" if places else ""
        return (
            f"source '{self.name}': no folder for dataset '{dataset}'{looked}; give "
            f"--data-root DIR with a sub-folder per dataset, or --dataset-root {dataset}=DIR "
            f"(no licensed data? try the synthetic demo: --source demo)"
        )

    # --- arrays ---
    def sample_frames(self, samples: pd.DataFrame) -> list[SampleFrames]:
        """Onset/apex frames of each protocol sample, in the sample table's order."""
        rows: dict[tuple[str, str, str], Any] = {}
        for dataset in samples["dataset"].unique():
            table = self.dataset_table(str(dataset))
            for _, row in table.iterrows():
                rows.setdefault(canonical_ids(row["dataset"], row["subject"], row["sample"]), row)
        frames = []
        for _, sample in samples.iterrows():
            key = canonical_ids(sample["dataset"], sample["subject"], sample["sample"])
            if key not in rows:
                raise DataError(
                    f"sample {sample['dataset']}/{sample['sample']} (subject "
                    f"{sample['subject']}) is not in the '{sample['dataset']}' "
                    "dataset table"
                )
            row = rows[key]
            if self.options.apex_jitter:
                row = self._jittered(row, "/".join(key))
            frames.append(select_frames(row))
        return frames

    def _jittered(self, row: pd.Series, key: str) -> pd.Series:
        """The loader row with its apex moved (`mer_bench.data.jitter`), counted for provenance;
        `key` is the canonical "dataset/subject/sample": a sample moves the same way every run."""
        from mer_bench.data.jitter import jitter_apex

        moved = jitter_apex(
            int(row["onset"]),
            int(row["apex"]),
            int(row["offset"]),
            self.options.apex_jitter,
            self.options.jitter_seed,
            key,
        )
        self._jitter_counts["samples"] += 1
        self._jitter_counts["moved"] += int(moved.apex != int(row["apex"]))
        self._jitter_counts["clamped"] += int(moved.clamped)
        row = row.copy()
        row["apex"] = moved.apex
        return row

    def arrays(self, samples: pd.DataFrame, view: ViewConfig | None = None) -> ViewArrays:
        """The view's arrays of the samples (None: the default view), memory-mapped
        (`mer_bench.data.preprocess.view_pipeline`)."""
        view = view if view is not None else default_view()
        frames = self.sample_frames(samples)
        usable_folder(self.cache_dir)  # a file or a read-only folder: one line, before any work
        # Runs started at once on the same samples compute them once: the first holds the lock,
        # the others wait, then find every entry cached. (Entries are written atomically and
        # verified on reading, so correctness does not depend on this lock, only the work.)
        locks = usable_folder(self.cache_dir / "locks")
        name = stable_hash(
            {
                "config": self.config.hash(),
                "samples": [f.key for f in frames],
                "view": view_hash(view, self.config),
            }
        )
        with folder_lock(locks / name):
            result = compute_views(
                frames,
                [view],
                self.config,
                self.cache_dir,
                workers=self.workers,
                progress=self.progress,
            )
        arrays = result.views[view.name]
        self._view_notes = {f.key: list(n) for f, n in zip(frames, arrays.notes) if n}
        self._view = view
        self.last_summary = result.summary
        self._fallback_samples = {f.key: kind for f, kind in zip(frames, result.fallbacks) if kind}
        return arrays

    def provenance(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "source": self.name,
            "synthetic": self.sample_ids == "generated",
            "preprocessing": self.config.as_dict(),
            "preprocessing_hash": self.config.hash(),
        }
        if self._roots is not None:
            info["dataset_roots"] = {k: str(v) for k, v in self._roots.items()}
        if self.last_summary is not None:
            info["preprocessing_summary"] = self.last_summary.as_dict()
            info["preprocessing_fallbacks"] = dict(self._fallback_samples)  # "dataset/sample": kind
        if self.options.apex_jitter:
            info["apex_jitter"] = {
                "k": self.options.apex_jitter,
                "seed": self.options.jitter_seed,
                **self._jitter_counts,
            }
        if self._view is not None:
            info["view"] = {
                "name": self._view.name,
                **self._view.params(),
                "hash": view_hash(self._view, self.config),
            }
            info["view_notes"] = dict(self._view_notes)  # "dataset/sample": bad-input rules used
        return info
