"""Long videos and their annotated expressions, as the spotting task sees them.

A long-video dataset (CAS(ME)^2, SAMM Long Videos, the demo's copies of them) is a set of videos,
each a folder of numbered frames, and a list of annotated expressions (micro or macro) with their
frame intervals. `LongVideoDataset` declares a loader (an entry point of the group
`mer_bench.long_video_datasets`); `check_annotations` turns a loader's raw rows into checked
`Expression`s, collecting every problem with its file and row.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mer_bench.core.errors import DataError
from mer_bench.data.datasets._common import Problem, frame_number, index_frames

#: The interval types of the spotting task.
KINDS = ("micro", "macro")


@dataclass(frozen=True)
class LongVideo:
    """One long video: its frames folder and frame numbers (first..last, owners' numbering)."""

    dataset: str
    subject: str
    video: str  # unique within the dataset
    folder: Path
    first: int
    last: int
    fps: float

    @property
    def n_frames(self) -> int:
        return self.last - self.first + 1

    @property
    def minutes(self) -> float:
        return self.n_frames / self.fps / 60.0

    def frame_paths(self) -> list[Path]:
        """Frame files in order; DataError naming the folder and the first missing frame."""
        index = index_frames(self.folder)
        missing = [n for n in range(self.first, self.last + 1) if n not in index]
        if missing:
            raise DataError(
                f"{self.folder}: frame {missing[0]} missing "
                f"({len(missing)} of {self.first}..{self.last} missing)"
            )
        return [index[n] for n in range(self.first, self.last + 1)]


@dataclass(frozen=True)
class Expression:
    """One annotated expression of a long video (frames in the owners' numbering, inclusive)."""

    dataset: str
    subject: str
    video: str
    onset: int
    apex: int | None
    offset: int
    kind: str  # "micro" | "macro"
    emotion: str
    action_units: str
    file: str
    row: int | None


@dataclass
class LongVideoSet:
    """A long-video dataset read from disk: videos, expressions, every problem, files used."""

    dataset: str
    root: Path
    fps: float
    videos: dict[str, LongVideo]
    expressions: list[Expression]
    problems: list[Problem]
    files: dict[str, str] = field(default_factory=dict)

    @property
    def fatal(self) -> list[Problem]:
        return [p for p in self.problems if p.fatal]

    def subjects(self) -> list[str]:
        return sorted({v.subject for v in self.videos.values()})


@dataclass(frozen=True)
class LongVideoDataset:
    """A registered long-video loader: its name, the conventional sub-folder of a data root, its
    frame rate, and `inspect(root) -> LongVideoSet` (every problem collected, none raised)."""

    name: str
    folder: str
    fps: float
    inspect: Callable[[Path], LongVideoSet]


@dataclass
class RawExpression:
    """One annotation row as the loader read it, before checks."""

    subject: str
    video: str
    onset: Any
    apex: Any
    offset: Any
    kind: Any
    emotion: Any
    action_units: Any
    file: Path
    row: int | None


def video_of_folder(
    dataset: str, subject: str, video: str, folder: Path, fps: float
) -> LongVideo | None:
    """The `LongVideo` of a frames folder (None when it holds no numbered frame)."""
    numbers = [frame_number(p) for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []
    numbers = [n for n in numbers if n is not None]
    if not numbers:
        return None
    return LongVideo(dataset, subject, video, folder, min(numbers), max(numbers), fps)


def _frame(value: Any) -> tuple[int | None, bool]:
    """(frame number, was fractional) of a sheet cell; fractional frames round half up as MEGC's
    baseline does (SAMM-LV has frames like 566.4)."""
    if value is None or isinstance(value, bool):
        return None, False
    try:
        x = float(str(value).strip())
    except ValueError:
        return None, False
    if math.isnan(x):
        return None, False
    return math.floor(x + 0.5), not x.is_integer()


def check_annotations(
    dataset: str,
    rows: list[RawExpression],
    videos: dict[str, LongVideo],
    kind_of: Callable[[Any], str | None],
) -> tuple[list[Expression], list[Problem]]:
    """Checked expressions and every problem (each naming its file and row).

    Fatal (the row is unusable, and `load_long_videos` refuses the dataset): a frame that is not a
    number, a reversed interval, an interval outside its video's frames, a video with no frames,
    an unknown type, and two intervals of the same type that overlap in one video.
    Warnings (the row is kept): fractional frames (rounded), an offset of 0 (the apex is used, as
    the public loaders do), an apex missing (-1, 0) or outside the interval.
    """
    problems: list[Problem] = []
    kept: list[Expression] = []
    for r in rows:
        where = (dataset, str(r.file), r.row, r.video)
        onset, f_on = _frame(r.onset)
        apex, f_ap = _frame(r.apex)
        offset, f_off = _frame(r.offset)
        kind = kind_of(r.kind)
        if kind not in KINDS:
            problems.append(Problem(*where, f"type {r.kind!r} is neither micro nor macro"))
            continue
        if onset is None or offset is None:
            bad = "onset" if onset is None else "offset"
            problems.append(
                Problem(
                    *where,
                    f"{bad} {r.onset if onset is None else r.offset!r} is not a frame number",
                )
            )
            continue
        if f_on or f_ap or f_off:
            problems.append(
                Problem(*where, "fractional frame numbers rounded half up", fatal=False)
            )
        if offset == 0 and apex is not None and apex > 0:
            problems.append(
                Problem(*where, f"offset 0: the apex {apex} is used as the offset", fatal=False)
            )
            offset = apex
        if offset < onset:
            problems.append(
                Problem(*where, f"reversed interval: offset {offset} before onset {onset}")
            )
            continue
        video = videos.get(r.video)
        if video is None:
            problems.append(Problem(*where, "no frames folder for this video"))
            continue
        if onset < video.first or offset > video.last:
            problems.append(
                Problem(
                    *where,
                    f"interval [{onset}, {offset}] outside the video's "
                    f"frames {video.first}..{video.last} ({video.folder})",
                )
            )
            continue
        if apex is not None and not onset <= apex <= offset:
            problems.append(
                Problem(
                    *where,
                    f"apex {apex} outside [onset {onset}, offset {offset}]: not used",
                    fatal=False,
                )
            )
            apex = None
        kept.append(
            Expression(
                dataset,
                r.subject,
                r.video,
                onset,
                apex,
                offset,
                kind,
                str(r.emotion or "").strip().lower(),
                str(r.action_units or "").strip(),
                str(r.file),
                r.row,
            )
        )
    by_video: dict[tuple[str, str], list[Expression]] = {}
    for e in kept:
        by_video.setdefault((e.video, e.kind), []).append(e)
    overlapping: set[int] = set()
    for group in by_video.values():
        group.sort(key=lambda e: (e.onset, e.offset))
        for a, b in itertools.pairwise(group):
            if b.onset <= a.offset:
                problems.append(
                    Problem(
                        dataset,
                        b.file,
                        b.row,
                        b.video,
                        f"{b.kind} interval [{b.onset}, {b.offset}] overlaps "
                        f"[{a.onset}, {a.offset}] (row {a.row})",
                    )
                )
                overlapping.add(id(b))
    return [e for e in kept if id(e) not in overlapping], problems
