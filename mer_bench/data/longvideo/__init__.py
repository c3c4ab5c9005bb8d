"""Long-video datasets for spotting: CAS(ME)^2 and SAMM Long Videos in their owners' layouts.

`load_long_videos(name, root)` is the one way in: the checked videos and expressions, or a
DataError naming the file and row (or frame) of the first problem that makes the dataset
unusable. `inspect_long_videos` returns every problem instead (for `mer-bench spot doctor`).
Loaders are plugins of the entry-point group `mer_bench.long_video_datasets`.
"""

from __future__ import annotations

from pathlib import Path

from mer_bench.core.errors import DataError
from mer_bench.core.registry import Registry
from mer_bench.data.longvideo.model import (
    KINDS,
    Expression,
    LongVideo,
    LongVideoDataset,
    LongVideoSet,
)

__all__ = [
    "KINDS",
    "LONG_VIDEO_DATASETS",
    "Expression",
    "LongVideo",
    "LongVideoDataset",
    "LongVideoSet",
    "inspect_long_videos",
    "load_long_videos",
]


def _check(name: str, obj: object) -> LongVideoDataset:
    if not isinstance(obj, LongVideoDataset):
        raise TypeError(f"entry point must give a LongVideoDataset, got {type(obj).__name__}")
    if obj.name != name:
        raise ValueError(f"entry point name {name!r} differs from its name {obj.name!r}")
    return obj


LONG_VIDEO_DATASETS: Registry[LongVideoDataset] = Registry(
    "long-video dataset", "mer_bench.long_video_datasets", _check
)


def inspect_long_videos(name: str, root: Path) -> LongVideoSet:
    """Read one long-video dataset, collecting every problem; DataError only when nothing is
    readable (no folder, no workbook)."""
    info = LONG_VIDEO_DATASETS.get(name)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: no such folder (dataset {name})")
    return info.inspect(root)


def load_long_videos(name: str, root: Path) -> LongVideoSet:
    """The checked long videos of `name` under `root`; DataError (exit 3) on the first fatal
    problem, naming its file and row (`mer-bench spot doctor` lists them all)."""
    found = inspect_long_videos(name, root)
    fatal = found.fatal
    if fatal:
        more = (
            f" (and {len(fatal) - 1} more; see `mer-bench spot doctor`)" if len(fatal) > 1 else ""
        )
        raise DataError(f"{fatal[0].line()}{more}")
    return found
