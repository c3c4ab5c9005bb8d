"""4DME (Li et al., TAFFC 2022): 4D meshes and three video modalities; micro and macro clips.

mer-bench reads what MEB reads: the 2-D grayscale frames of the micro clips,
`4DMicro/gray_micro/<sub_ID>/<fold_name>/` (or the crops, `gray_micro_crop`), frame number = the
trailing number of each file name (the exact file naming is not public (?)). Annotation
`4DME_Labelling_Micro_release v1.xlsx`: `sub_ID | fold_name | Onset | Apex | Offset | AUs |
Emotion` plus per-AU columns (not read: the AU string is the source of truth here).

Quirks, written down:
- AUs tagged `(k)` are static; the AU parser keeps the tag and AU tasks leave them out, as MEB's
  default (`ignore_ks=False` zeroes them);
- MEB swaps the AU columns of its rows 144/145 by row number; the AU string is read instead, so
  the swap does not apply; whether the strings of those rows are right is not public (?);
- fps and subject count are not public (?): doctor reports what it finds.
"""

from __future__ import annotations

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

NAME = "4dme"
#: 4DME's emotion labels (five classes; spelling as the loaders normalise it (?)).
EMOTIONS = ("positive", "negative", "surprise", "repression", "others")
LAYOUTS = ("gray_micro", "gray_micro_crop")
SHEETS = ("4DME_Labelling_Micro_release*.xlsx", "4DME*Micro*.xls*")
COLUMNS = {
    "subject": ("sub_ID", "Subject"),
    "filename": ("fold_name", "Filename"),
    "onset": ("Onset", "OnsetFrame"),
    "apex": ("Apex", "ApexFrame"),
    "offset": ("Offset", "OffsetFrame"),
    "action_units": ("AUs", "AU", "Action Units"),
    "emotion": ("Emotion", "Estimated Emotion"),
}


def frames_root(root: Path) -> Path | None:
    """The `gray_micro` (else `gray_micro_crop`) folder under `root`."""
    for name in LAYOUTS:
        found = find_dir(root, lambda d, n=name: d.name == n, depth=2)
        if found:
            return found
    return None


def inspect(root: Path) -> LoadResult:
    """Read 4DME's micro clips under `root`; every problem is collected."""
    sheet = find_file(root, SHEETS)
    if sheet is None:
        raise DataError(f"{root}: no 4DME labelling sheet (looked for {', '.join(SHEETS)})")
    frames = frames_root(root)
    problems: list[Problem] = []
    if frames is None:
        problems.append(
            Problem(NAME, str(root), None, None, f"no frames folder ({' or '.join(LAYOUTS)})")
        )
    rows = []
    for number, cells in read_sheet(
        sheet,
        COLUMNS,
        header_key="fold_name",
        required=("subject", "filename", "onset", "apex", "offset", "emotion"),
    ):
        subject = cell_text(cells.get("subject"))
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
            )
        )
    files = {"annotation": str(sheet), "frames": str(frames) if frames else ""}
    return finish(NAME, root, rows, EMOTIONS, files, problems=problems)


DATASET = DatasetInfo(name=NAME, folder="4DME", order=7, inspect=inspect)
