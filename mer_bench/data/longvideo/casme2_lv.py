"""CAS(ME)^2 long videos (Qu et al. 2018): 30 fps, 22 participants, 300 macro + 57 micro.

The owners' tree: `CAS(ME)^2code_final.xlsx` beside `rawpic/s15/15_0101disgustingteeth/img001.jpg`
(frames numbered from 1). The workbook has no header rows: sheet `CASFEcode_final` holds one
expression a row (participant 1-22 | expression `anger1_1` | onset | apex | offset | AUs |
emotion | `macro-expression`/`micro-expression` | self-report); sheet `naming rule1` maps a
participant to its folder (`s15` | prefix | participant); sheet `naming rule2` maps a video code
to its expression name (`0101` | `disgust1`). A video is `<folder prefix>_<code>` (`15_0101`).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from mer_bench.core.errors import DataError
from mer_bench.data.datasets._common import Problem, cell_text, find_dir, find_file
from mer_bench.data.longvideo.model import (
    LongVideo,
    LongVideoDataset,
    LongVideoSet,
    RawExpression,
    check_annotations,
    video_of_folder,
)

NAME = "casme2-lv"
FPS = 30.0
WORKBOOKS = ("CAS(ME)^2code_final.xlsx", "CAS(ME)*code_final*.xls*", "*code_final*.xls*")
SHEET_CODES, SHEET_RULE1, SHEET_RULE2 = "CASFEcode_final", "naming rule1", "naming rule2"
_VIDEO_FOLDER = re.compile(r"(\d+)_(\d{4})")


def _sheet(path: Path, name: str) -> pd.DataFrame:
    try:
        return pd.read_excel(path, sheet_name=name, header=None, dtype=object)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: cannot read sheet {name!r} ({reason})") from exc


def _int(value: Any) -> int | None:
    text = cell_text(value)
    return int(text) if text.isdigit() else None


def kind_of(value: Any) -> str | None:
    """`micro-expression` -> micro, `macro-expression` -> macro."""
    text = cell_text(value).lower()
    return {"micro-expression": "micro", "macro-expression": "macro"}.get(text)


def inspect(root: Path) -> LongVideoSet:
    """Read CAS(ME)^2 under `root`; every problem is collected, none raised per row."""
    book = find_file(root, WORKBOOKS)
    if book is None:
        raise DataError(f"{root}: no CAS(ME)^2 workbook (looked for {', '.join(WORKBOOKS)})")
    rawpic = find_dir(root, lambda d: d.name == "rawpic", depth=2)
    problems: list[Problem] = []
    if rawpic is None:
        problems.append(Problem(NAME, str(root), None, None, "no rawpic/ folder of long videos"))
    folders: dict[int, str] = {}
    for _, cells in _sheet(book, SHEET_RULE1).iterrows():
        participant = _int(cells.iloc[2]) if len(cells) > 2 else None
        if participant is not None:
            folders[participant] = cell_text(cells.iloc[0])
    codes: dict[str, str] = {}
    for _, cells in _sheet(book, SHEET_RULE2).iterrows():
        code = _int(cells.iloc[0])
        if code is not None:
            codes[cell_text(cells.iloc[1]).lower()] = f"{code:04d}"
    videos: dict[str, LongVideo] = {}
    if rawpic is not None:
        for subject_dir in sorted(d for d in rawpic.iterdir() if d.is_dir()):
            for folder in sorted(d for d in subject_dir.iterdir() if d.is_dir()):
                m = _VIDEO_FOLDER.match(folder.name)
                if m is None:
                    continue
                video = video_of_folder(NAME, subject_dir.name, m.group(0), folder, FPS)
                if video is None:
                    problems.append(
                        Problem(
                            NAME,
                            str(folder),
                            None,
                            m.group(0),
                            "no numbered frame in the video folder",
                        )
                    )
                else:
                    videos[video.video] = video
    rows: list[RawExpression] = []
    for i, cells in _sheet(book, SHEET_CODES).iterrows():
        number = int(i) + 1
        c = [None if pd.isna(v) else v for v in cells.tolist()] + [None] * 9
        if all(v is None or cell_text(v) == "" for v in c[:9]):
            continue
        participant, name = _int(c[0]), cell_text(c[1])
        folder = folders.get(participant) if participant is not None else None
        code = codes.get(name.split("_")[0].lower())
        if folder is None or code is None:
            what = (
                f"participant {cell_text(c[0])!r} is not in sheet {SHEET_RULE1!r}"
                if folder is None
                else f"expression {name!r} has no code in sheet {SHEET_RULE2!r}"
            )
            problems.append(Problem(NAME, str(book), number, name or None, what))
            continue
        prefix = re.sub(r"\D", "", folder)
        video = f"{int(prefix):02d}_{code}" if prefix else f"{folder}_{code}"
        rows.append(RawExpression(folder, video, c[2], c[3], c[4], c[7], c[6], c[5], book, number))
    expressions, found = check_annotations(NAME, rows, videos, kind_of)
    return LongVideoSet(
        NAME,
        root,
        FPS,
        videos,
        expressions,
        problems + found,
        {"annotation": str(book), "frames": str(rawpic or "")},
    )


DATASET = LongVideoDataset(name=NAME, folder="CASME2_LV", fps=FPS, inspect=inspect)
