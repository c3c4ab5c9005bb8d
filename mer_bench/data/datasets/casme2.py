"""CASME II (Yan et al. 2014): 200 fps, 26 subjects, one coding sheet.

Layouts under the dataset root (first found wins): `CASME2_RAW_selected/subNN/<clip>/imgN.jpg`
(onset..offset only), `CASME2-RAW/subNN/<clip>/imgN.jpg` (whole clips), `Cropped/subNN/<clip>/
reg_imgN.jpg`, or the `subNN` folders directly in the root. The coding sheet
(`CASME2-coding-*.xlsx`, `CASME2_label_Ver_*.xls`) has blank columns, `/` for some apexes (fixed
by the corrections table), int subjects (folder `sub%02d`) and irregular clip names. The MEGC2018
objective classes, when `CASME2-ObjectiveClasses.xlsx` is present, fill column `objective_class`.
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

NAME = "casme2"
EMOTIONS = ("happiness", "disgust", "repression", "surprise", "others", "fear", "sadness")
LAYOUTS = ("CASME2_RAW_selected", "CASME2-RAW", "CASME2_RAW", "Cropped", "CASME2_Cropped")
SHEETS = (
    "CASME2-coding-*.xlsx",
    "CASME2-coding*.xls*",
    "CASME2_label_Ver_*.xls*",
    "CASME2*coding*.xls*",
    "CASME2*label*.xls*",
)
OBJECTIVE_SHEETS = ("CASME2-ObjectiveClasses.xlsx", "CASME2*Objective*.xls*")
COLUMNS = {
    "subject": ("Subject",),
    "filename": ("Filename",),
    "onset": ("OnsetFrame", "Onset Frame", "Onset"),
    "apex": ("ApexFrame", "Apex Frame", "Apex"),
    "offset": ("OffsetFrame", "Offset Frame", "Offset"),
    "action_units": ("Action Units", "AUs", "AU", "Aus"),
    "emotion": ("Estimated Emotion", "Emotion"),
}
_SUBJECT_DIR = r"sub\d+"


def canonical_subject(text: str | int) -> str:
    """`1`, `sub1`, `SUB01` -> `sub01` (the folder name); a sheet may hold the number itself."""
    text = cell_text(text)
    m = re.fullmatch(r"(?:sub)?0*(\d+)", text, flags=re.IGNORECASE)
    return f"sub{int(m.group(1)):02d}" if m else text


def subject_spellings(canonical: str) -> tuple[str, ...]:
    """The MEGC2019 list writes CASME II subjects as bare numbers (`1` for `sub01`)."""
    return (str(int(canonical[3:])),) if canonical[3:].isdigit() else ()


def frames_root(root: Path) -> Path | None:
    """The folder holding the `subNN` folders, preferring the layouts in LAYOUTS order."""
    for name in LAYOUTS:
        if (root / name).is_dir():
            found = find_dir(root / name, has_child(_SUBJECT_DIR), depth=1)
            if found:
                return found
    return find_dir(root, has_child(_SUBJECT_DIR), depth=2)


def _objective_classes(root: Path) -> tuple[dict[tuple[str, str], str], str | None]:
    path = find_file(root, OBJECTIVE_SHEETS)
    if path is None:
        return {}, None
    cols = {
        "subject": ("Subject",),
        "filename": ("Filename",),
        "objective_class": ("Objective Class", "Objective Classes"),
    }
    rows = read_sheet(path, cols, required=tuple(cols))
    return (
        {
            (canonical_subject(c["subject"]), cell_text(c["filename"])): cell_text(
                c["objective_class"]
            )
            for _, c in rows
        },
        str(path),
    )


def inspect(root: Path) -> LoadResult:
    """Read CASME II under `root`; every problem is collected, nothing raised per row."""
    sheet = find_file(root, SHEETS)
    if sheet is None:
        raise DataError(f"{root}: no CASME II coding sheet (looked for {', '.join(SHEETS)})")
    frames = frames_root(root)
    objective, objective_file = _objective_classes(root)
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
        sheet, COLUMNS, required=("subject", "filename", "onset", "offset", "emotion")
    ):
        subject = canonical_subject(cell_text(cells.get("subject")))
        clip = cell_text(cells.get("filename"))
        extra = {"objective_class": objective.get((subject, clip), "")} if objective else {}
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
    files = {"annotation": str(sheet), "frames": str(frames) if frames else ""}
    if objective_file:
        files["objective_classes"] = objective_file
    return finish(NAME, root, rows, EMOTIONS, files, problems=problems)


DATASET = DatasetInfo(
    name="casme2",
    folder="CASME2",
    order=0,
    inspect=inspect,
    title="CASME II",
    aliases=("casmeii", "casme_2", "casme-2"),
    canonical_subject=canonical_subject,
    subject_spellings=subject_spellings,
)
