"""The frames of one sample, from a dataset loader table row: onset, apex and the whole clip.

A loader row lists `frames` (paths from onset to offset, in order) with the annotated `onset`,
`apex` and `offset` frame numbers. The apex is the frame whose file name ends in the apex number;
failing that, the frame at position apex - onset; failing that (no apex, e.g. SMIC, or an apex
outside the clip), the middle frame. Which rule applied is recorded with the sample. The whole
list and the annotated numbers are kept too, for the views that read more than two frames
(`mer_bench.data.preprocess.timeaxis`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mer_bench.core.errors import DataError

_TRAILING_NUMBER = re.compile(r"(\d+)$")


@dataclass(frozen=True)
class SampleFrames:
    """The two frames the flow is computed between, how the apex was chosen, and the clip.

    frames: every listed frame from onset to offset, in order (empty when only the onset and apex
        are known, e.g. built by hand: the clip is then those two frames).
    onset, apex, offset: the annotated frame numbers (None where not annotated).
    """

    dataset: str
    sample: str
    onset_path: Path
    apex_path: Path
    apex_rule: str  # "number" | "position" | "middle"
    frames: tuple[Path, ...] = ()
    onset: int | None = None
    apex: int | None = None
    offset: int | None = None

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.sample}"

    @property
    def clip(self) -> tuple[Path, ...]:
        """The clip's frames in order: `frames`, or (onset, apex) when no list is known."""
        if self.frames:
            return self.frames
        if Path(self.onset_path) == Path(self.apex_path):
            return (Path(self.onset_path),)
        return (Path(self.onset_path), Path(self.apex_path))


def _as_int(value: Any) -> int | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else int(number)


def frame_number(path: Path) -> int | None:
    """The number at the end of a frame file's stem (`img46` -> 46), or None."""
    return _frame_number(Path(path))


def _frame_number(path: Path) -> int | None:
    match = _TRAILING_NUMBER.search(path.stem)
    return int(match.group(1)) if match else None


def select_frames(row: Any) -> SampleFrames:
    """Onset and apex frame paths of a loader table row (a pandas Series or a mapping)."""
    dataset, sample = str(row["dataset"]), str(row["sample"])
    frames = [Path(p) for p in (row["frames"] if row["frames"] is not None else [])]
    if len(frames) == 0:
        raise DataError(f"sample {dataset}/{sample}: the loader table lists no frames")
    onset, apex = _as_int(row.get("onset")), _as_int(row.get("apex"))
    apex_path, rule = None, "middle"
    if apex is not None:
        by_number = [p for p in frames if _frame_number(p) == apex]
        if by_number:
            apex_path, rule = by_number[0], "number"
        elif onset is not None and 0 <= apex - onset < len(frames):
            apex_path, rule = frames[apex - onset], "position"
    if apex_path is None:
        apex_path = frames[len(frames) // 2]
    return SampleFrames(
        dataset,
        sample,
        frames[0],
        apex_path,
        rule,
        frames=tuple(frames),
        onset=onset,
        apex=apex,
        offset=_as_int(row.get("offset")),
    )


def _read_frame(path: Path, sample: str, flags: int) -> np.ndarray:
    """`cv2.imread(path, flags)`; DataError naming the file (and sample) if missing or unreadable."""
    where = f" (sample {sample})" if sample else ""
    if not Path(path).is_file():
        raise DataError(f"missing frame {path}{where}")
    image = cv2.imread(str(path), flags)
    if image is None or image.size == 0:
        raise DataError(f"unreadable frame {path}{where}")
    return image


def read_gray(path: Path, sample: str = "") -> np.ndarray:
    """A frame as a uint8 grayscale image; DataError naming the file if missing or unreadable."""
    return _read_frame(path, sample, cv2.IMREAD_GRAYSCALE)


def read_color(path: Path, sample: str = "") -> np.ndarray:
    """A frame as uint8 RGB (H, W, 3); grey files give three equal channels. DataError naming the
    file if missing or unreadable."""
    return cv2.cvtColor(_read_frame(path, sample, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def file_signature(path: Path) -> tuple[str, int, int]:
    """(resolved path, size, mtime in ns): what the cache key knows about a frame file."""
    stat = Path(path).stat()
    return (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
