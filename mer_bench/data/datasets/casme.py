"""CASME (I) (Yan et al., FG 2013): 60 fps, 195 micro-expressions picked from 1,500 movements.

Layout under the dataset root (first found wins): `CASME_raw_selected/subNN/<Filename>/
<Filename>-<n>.jpg`, `Cropped/subNN/<Filename>/reg_<Filename>-<n>.jpg`, or the `subNN` folders
directly in the root. The frame number is the trailing number of the file name; it is zero-padded
to 3 digits from the sheet's row 92 on and not before (MEB sorts by the digits; we read the
number, so both spellings give the same frame).

Annotation: one sheet (MEB's `casme.xlsx`; the release's own file name is not public (?)):
`Subject | Filename | OnsetF | ApexF1 | ApexF2 | OffsetF | AU | Emotion`, with blank columns.
Assumptions, written down: `ApexF1` is the apex (`ApexF2`, a second apex some rows have, is kept
in column `apex2`); subject `1` is folder `sub01`.

Quirks MEB fixes by its sheet's row numbers (onset of rows 40, 42, 43; offset of rows 40, 42, 43,
54, 140; apex of 40, 42, 43): the sample ids of those rows are not public, so the corrections
table cannot hold them yet; a wrong row shows in `doctor` as an apex outside [onset, offset]
or missing frames, naming the sheet row.
"""

from __future__ import annotations

import re
from pathlib import Path

from mer_bench.core.errors import DataError
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

NAME = "casme"
#: Emotions CASME (I) annotates (Yan et al. 2013).
EMOTIONS = (
    "happiness",
    "surprise",
    "disgust",
    "fear",
    "sadness",
    "repression",
    "tense",
    "contempt",
)
LAYOUTS = ("CASME_raw_selected", "CASME_RAW_selected", "Cropped", "CASME_Cropped")
SHEETS = ("casme.xlsx", "CASME*.xlsx", "CASME*.xls", "casme*.xls*")
COLUMNS = {
    "subject": ("Subject",),
    "filename": ("Filename",),
    "onset": ("OnsetF", "OnsetFrame", "Onset"),
    "apex": ("ApexF1", "ApexFrame", "Apex"),
    "apex2": ("ApexF2",),
    "offset": ("OffsetF", "OffsetFrame", "Offset"),
    "action_units": ("AU", "AUs", "Action Units"),
    "emotion": ("Emotion", "Estimated Emotion"),
}
_SUBJECT_DIR = r"sub\d+"


def subject_folder(subject: object) -> str:
    """Sheet subject `1` / `sub1` -> folder name `sub01`."""
    text = cell_text(subject)
    m = re.fullmatch(r"(?:sub)?0*(\d+)", text, flags=re.IGNORECASE)
    return f"sub{int(m.group(1)):02d}" if m else text


def frames_root(root: Path) -> Path | None:
    """The folder holding the `subNN` folders, preferring the layouts in LAYOUTS order."""
    for name in LAYOUTS:
        if (root / name).is_dir():
            found = find_dir(root / name, has_child(_SUBJECT_DIR), depth=1)
            if found:
                return found
    return find_dir(root, has_child(_SUBJECT_DIR), depth=2)


def inspect(root: Path) -> LoadResult:
    """Read CASME (I) under `root`; every problem is collected, nothing raised per row."""
    sheet = find_file(root, SHEETS)
    if sheet is None:
        raise DataError(f"{root}: no CASME annotation sheet (looked for {', '.join(SHEETS)})")
    frames = frames_root(root)
    problems: list[Problem] = []
    if frames is None:
        problems.append(
            Problem(
                NAME,
                str(root),
                None,
                None,
                f"no frames folder ({', '.join(LAYOUTS)} with subNN folders)",
            )
        )
    rows = []
    for number, cells in read_sheet(
        sheet, COLUMNS, required=("subject", "filename", "onset", "apex", "offset", "emotion")
    ):
        subject = subject_folder(cells.get("subject"))
        clip = cell_text(cells.get("filename"))
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
                {"apex2": cell_text(cells.get("apex2"))},
            )
        )
    files = {"annotation": str(sheet), "frames": str(frames) if frames else ""}
    return finish(NAME, root, rows, EMOTIONS, files, problems=problems)


DATASET = DatasetInfo(name=NAME, folder="CASME", order=5, inspect=inspect)
