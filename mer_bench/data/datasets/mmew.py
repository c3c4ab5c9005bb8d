"""MMEW (Ben et al., TPAMI 2021): 300 micro-expressions (90 fps (?)) and 900 macro stills.

Two layouts, both read (per clip, the first that has it):
- the owners' (dpailab.com/database.html): `S03/happiness/S03-01-002/1.jpg` (subject, emotion
  folder, clip `Person-Emotion-Sample`, frames numbered from 1);
- MEB's: `Micro_Expression/<emotion>/<Filename>/` (no subject level).
Annotation `MMEW_Micro_Exp.xlsx`: `Subject | Filename | OnsetFrame | ApexFrame | OffsetFrame |
Action Units | Estimated Emotion | remarks`.

Quirks, written down:
- the sheet says `others` where the folder is `repression`: the loader keeps the sheet's emotion
  and looks for the clip in `repression/` (MEB renames the label instead; inferred);
- MEB fixes apex and offset of its sheet's rows 33, 35-42, 142, 143, 145, 146, 148, 154, 156
  by row number; their sample ids are not public, so the corrections table cannot hold them;
  `doctor` shows such rows (apex outside [onset, offset], missing frames) with their row.
- frames of the old MEB loader were 231x231; the loader does not assume a size.
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
    read_sheet,
)

NAME = "mmew"
EMOTIONS = ("happiness", "surprise", "disgust", "repression", "fear", "sadness", "anger", "others")
#: Sheet emotion -> the folder its clips live in (where they differ).
FOLDER_OF = {"others": "repression"}
SHEETS = ("MMEW_Micro_Exp.xlsx", "MMEW*Micro*.xls*", "MMEW*.xlsx")
COLUMNS = {
    "subject": ("Subject",),
    "filename": ("Filename",),
    "onset": ("OnsetFrame", "Onset Frame", "Onset"),
    "apex": ("ApexFrame", "Apex Frame", "Apex"),
    "offset": ("OffsetFrame", "Offset Frame", "Offset"),
    "action_units": ("Action Units", "AUs", "AU"),
    "emotion": ("Estimated Emotion", "Emotion"),
    "remarks": ("remarks", "Remarks"),
}


def subject_id(subject: object) -> str:
    """Sheet subject `3` / `S3` / `S03` -> `S03`, as the owners' folders spell it."""
    text = cell_text(subject)
    m = re.fullmatch(r"[sS]?0*(\d+)", text)
    return f"S{int(m.group(1)):02d}" if m else text


def _micro_root(root: Path) -> Path | None:
    """MEB's `Micro_Expression` folder, if this copy has it."""
    return find_dir(root, lambda d: d.name.lower() == "micro_expression", depth=2)


def clip_folder(root: Path, micro: Path | None, subject: str, emotion: str, clip: str) -> Path:
    """Where a clip's frames are: the owners' layout, else MEB's; the owners' path when neither
    exists (what doctor names as missing)."""
    folders = [emotion, FOLDER_OF.get(emotion, emotion)]
    candidates = [root / subject / f / clip for f in folders]
    if micro is not None:
        candidates += [micro / f / clip for f in folders]
    return next((c for c in candidates if c.is_dir()), candidates[-1 if micro else 0])


def inspect(root: Path) -> LoadResult:
    """Read MMEW's micro-expressions under `root`; every problem is collected."""
    sheet = find_file(root, SHEETS)
    if sheet is None:
        raise DataError(f"{root}: no MMEW annotation sheet (looked for {', '.join(SHEETS)})")
    micro = _micro_root(root)
    problems: list[Problem] = []
    rows = []
    for number, cells in read_sheet(
        sheet, COLUMNS, required=("subject", "filename", "onset", "apex", "offset", "emotion")
    ):
        subject = subject_id(cells.get("subject"))
        clip = cell_text(cells.get("filename"))
        emotion = cell_text(cells.get("emotion")).lower()
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
                clip_folder(root, micro, subject, emotion, clip),
                {"remarks": cell_text(cells.get("remarks"))},
            )
        )
    files = {"annotation": str(sheet), "frames": str(micro or root)}
    return finish(NAME, root, rows, EMOTIONS, files, problems=problems)


DATASET = DatasetInfo(name=NAME, folder="MMEW", order=6, inspect=inspect)
