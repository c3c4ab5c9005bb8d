"""SAMM (Davison et al. 2018): 200 fps, grayscale, 29 subjects with micro-expressions.

Frames: `<root>/006/006_1_2/006_05562.jpg` (subject folders directly in the root, or one level
down). Codes sheet `SAMM_Micro_FACS_Codes_v2.xlsx` (13 preamble rows, header on row 14) or
`SAMM_20181215_Micro_FACS_Codes_v2.xlsx` (single header row); the header row is found either way.
Subjects are ints or text (`'006'`): both become zfill(3). Emotions are capitalised (lower-cased
here; `Others` -> `other` and the two apexes outside [onset, offset] are in the corrections table).
The sheet's objective classes fill column `objective_class`.
"""

from __future__ import annotations

import re
from pathlib import Path

from mer_bench.data.datasets._common import (
    DatasetInfo,
    LoadResult,
    Problem,
    RawRow,
    cell_text,
    find_dir,
    find_file,
    finish,
    has_child,
    read_sheet,
)
from mer_bench.core.errors import DataError

NAME = "samm"
EMOTIONS = ("anger", "contempt", "happiness", "surprise", "disgust", "fear", "sadness", "other")
SHEETS = (
    "SAMM_Micro_FACS_Codes_v2.xlsx",
    "SAMM_*Micro_FACS_Codes*.xls*",
    "*Micro_FACS_Codes*.xls*",
)
COLUMNS = {
    "subject": ("Subject",),
    "filename": ("Filename",),
    "onset": ("Onset Frame", "OnsetFrame", "Onset"),
    "apex": ("Apex Frame", "ApexFrame", "Apex"),
    "offset": ("Offset Frame", "OffsetFrame", "Offset"),
    "action_units": ("Action Units", "AUs", "AU"),
    "emotion": ("Estimated Emotion", "Emotion"),
    "objective_class": ("Objective Classes", "Objective Class"),
}


def canonical_subject(text: str) -> str:
    """`6`, `06`, `006` -> `006` (the folder name)."""
    m = re.fullmatch(r"0*(\d+)", text)
    return f"{int(m.group(1)):03d}" if m else text


def frames_root(root: Path) -> Path | None:
    """The folder holding the three-digit subject folders."""
    return find_dir(root, has_child(r"\d{3}"), depth=2)


def inspect(root: Path) -> LoadResult:
    """Read SAMM under `root`; every problem is collected, nothing raised per row."""
    sheet = find_file(root, SHEETS)
    if sheet is None:
        raise DataError(f"{root}: no SAMM codes sheet (looked for {', '.join(SHEETS)})")
    frames = frames_root(root)
    problems: list[Problem] = []
    if frames is None:
        problems.append(
            Problem(NAME, str(root), None, None, "no frames folder (subject folders 006, 007, ...)")
        )
    rows = []
    for number, cells in read_sheet(
        sheet, COLUMNS, required=("subject", "filename", "onset", "apex", "offset", "emotion")
    ):
        subject = canonical_subject(cell_text(cells.get("subject")))
        clip = cell_text(cells.get("filename"))
        extra = (
            {"objective_class": cell_text(cells.get("objective_class"))}
            if "objective_class" in cells
            else {}
        )
        rows.append(
            RawRow(
                subject,
                clip,
                cells.get("onset"),
                cells.get("apex"),
                cells.get("offset"),
                cells.get("emotion"),
                cells.get("action_units"),
                sheet,
                number,
                frames / subject / clip if frames else None,
                extra,
            )
        )
    return finish(
        NAME,
        root,
        rows,
        EMOTIONS,
        {"annotation": str(sheet), "frames": str(frames) if frames else ""},
        problems=problems,
    )


DATASET = DatasetInfo(
    name="samm",
    folder="SAMM",
    order=1,
    inspect=inspect,
    title="SAMM",
    canonical_subject=canonical_subject,
)
