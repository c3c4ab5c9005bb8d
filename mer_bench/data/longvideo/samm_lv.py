"""SAMM Long Videos (Yap et al. 2020): 200 fps, 30 subjects, 147 videos, 343 macro + 159 micro.

The owners' tree: `SAMM_longvideos/006_1/006_1_0001.jpg` (4-digit frame suffix) beside
`SAMM_LongVideos_V1_Release.xlsx` (or `_V2_Release`). Sheet `FACS_Movement_Only`, a preamble
then a header row: `Subject | Filename (006_1_2) | Inducement Code | Onset | Apex | Offset |
Duration | Type (Macro / Micro - 1/2) | Action Units | Notes`. A row's video is its filename
without the last `_n` (`006_1`). Apex -1 means not annotated; fractional frames are rounded half
up (MEGC's baseline does the same).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mer_bench.core.errors import DataError
from mer_bench.data.datasets._common import (
    Problem,
    cell_text,
    find_dir,
    find_file,
    read_sheet,
)
from mer_bench.data.longvideo.model import (
    LongVideo,
    LongVideoDataset,
    LongVideoSet,
    RawExpression,
    check_annotations,
    video_of_folder,
)
from mer_bench.data.naming import canonical_subject

NAME = "samm-lv"
FPS = 200.0
WORKBOOKS = ("SAMM_LongVideos_V*_Release.xlsx", "SAMM_LongVideos*.xls*", "*LongVideos*.xls*")
SHEET = "FACS_Movement_Only"
COLUMNS = {
    "subject": ("Subject",),
    "filename": ("Filename",),
    "onset": ("Onset", "Onset Frame"),
    "apex": ("Apex", "Apex Frame"),
    "offset": ("Offset", "Offset Frame"),
    "type": ("Type", "Type(Macro/Micro)", "Type (Macro / Micro - 1/2)"),
    "action_units": ("Action Units", "AUs"),
    "emotion": ("Estimated Emotion", "Emotion"),
}
_VIDEO = re.compile(r"\d{3}_\d+")


def kind_of(value: Any) -> str | None:
    """`Macro` -> macro, `Micro - 1/2` (any `Micro...`) -> micro."""
    text = cell_text(value).lower()
    return "micro" if text.startswith("micro") else "macro" if text.startswith("macro") else None


def inspect(root: Path) -> LongVideoSet:
    """Read SAMM Long Videos under `root`; every problem collected, none raised per row."""
    book = find_file(root, WORKBOOKS)
    if book is None:
        raise DataError(f"{root}: no SAMM Long Videos workbook (looked for {', '.join(WORKBOOKS)})")
    frames = find_dir(
        root, lambda d: any(c.is_dir() and _VIDEO.fullmatch(c.name) for c in d.iterdir()), depth=2
    )
    problems: list[Problem] = []
    videos: dict[str, LongVideo] = {}
    if frames is None:
        problems.append(
            Problem(NAME, str(root), None, None, "no folder of video folders (006_1, 006_2, ...)")
        )
    else:
        for folder in sorted(
            d for d in frames.iterdir() if d.is_dir() and _VIDEO.fullmatch(d.name)
        ):
            video = video_of_folder(NAME, folder.name.split("_")[0], folder.name, folder, FPS)
            if video is None:
                problems.append(
                    Problem(
                        NAME,
                        str(folder),
                        None,
                        folder.name,
                        "no numbered frame in the video folder",
                    )
                )
            else:
                videos[video.video] = video
    try:
        table = read_sheet(
            book,
            COLUMNS,
            sheet=SHEET,
            required=("subject", "filename", "onset", "apex", "offset", "type"),
        )
    except DataError as exc:
        if f"{SHEET!r}" not in str(exc):
            raise
        table = read_sheet(
            book, COLUMNS, required=("subject", "filename", "onset", "apex", "offset", "type")
        )
    rows = []
    for number, cells in table:
        name = cell_text(cells.get("filename"))
        rows.append(
            RawExpression(
                canonical_subject("samm", cell_text(cells.get("subject"))),
                name.rsplit("_", 1)[0],
                cells.get("onset"),
                cells.get("apex"),
                cells.get("offset"),
                cells.get("type"),
                cells.get("emotion"),
                cells.get("action_units"),
                book,
                number,
            )
        )
    expressions, found = check_annotations(NAME, rows, videos, kind_of)
    return LongVideoSet(
        NAME,
        root,
        FPS,
        videos,
        expressions,
        problems + found,
        {"annotation": str(book), "frames": str(frames or "")},
    )


DATASET = LongVideoDataset(name=NAME, folder="SAMM_LV", fps=FPS, inspect=inspect)
