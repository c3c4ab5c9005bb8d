"""CAS(ME)^3 Part A (Li et al. 2022): 30 fps, 94 subjects with micro-expressions.

Frames: `<root>/spNO.138/a/color/1294.jpg` (the `spNO.*` folders directly in the root or up to
three levels down, e.g. `part_A/data/part_A/`). Label sheet `cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx`,
sheet `label`. One video holds several expressions, so the sample id is
`<subject>_<filename>_<onset as annotated>` (e.g. `spNO.1_e_96`). Filenames are lower-cased (one
row spells `J`), emotions lower-cased (`Others`). Bad rows and the owners' error list
(`casme3_partA_error_list_ZhouJu.xlsx`) are in the corrections table; the error list, when present,
is also applied as an exclusion list for any sample the table does not already fix.
"""

from __future__ import annotations

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
from mer_bench.data.datasets.corrections import corrections_for
from mer_bench.core.errors import DataError

NAME = "casme3"
EMOTIONS = ("disgust", "surprise", "others", "fear", "anger", "sad", "happy")
SHEETS = (
    "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx",
    "*part_A*ME_label*.xlsx",
    "*part_A*label*.xls*",
)
ERROR_LISTS = ("casme3_partA_error_list*.xlsx", "*partA*error*list*.xls*")
COLUMNS = {
    "subject": ("Subject",),
    "filename": ("Filename",),
    "onset": ("Onset",),
    "apex": ("Apex",),
    "offset": ("Offset",),
    "action_units": ("AU", "AUs", "Action Units"),
    "objective_class": ("Objective class", "Objective Classes"),
    "emotion": ("emotion",),
}


def sample_id(subject: str, filename: str, onset: object) -> str:
    """`spNO.1_e_96`: subject, lower-cased filename and the onset as annotated."""
    return f"{subject}_{filename.lower()}_{cell_text(onset)}"


def frames_root(root: Path) -> Path | None:
    """The folder holding the `spNO.N` subject folders."""
    return find_dir(root, has_child(r"spNO\.\d+"), depth=3)


def _clip_dir(frames: Path, subject: str, filename: str) -> Path:
    clip = frames / subject / filename
    return clip / "color" if (clip / "color").is_dir() else clip


def _error_list(root: Path) -> tuple[dict[str, str], str | None]:
    """Samples of the owners' error list that the corrections table does not fix -> reason."""
    path = find_file(root, ERROR_LISTS)
    if path is None:
        return {}, None
    fixed = {c.sample for c in corrections_for(NAME)}
    out = {}
    for number, c in read_sheet(path, COLUMNS, sheet=0, required=("subject", "filename", "onset")):
        sid = sample_id(cell_text(c["subject"]), cell_text(c["filename"]), c["onset"])
        if sid not in fixed:
            out[sid] = f"{path.name}, row {number}"
    return out, str(path)


def inspect(root: Path) -> LoadResult:
    """Read CAS(ME)^3 Part A under `root`; every problem is collected, nothing raised per row."""
    sheet = find_file(root, SHEETS)
    if sheet is None:
        raise DataError(f"{root}: no CAS(ME)^3 Part A label sheet (looked for {', '.join(SHEETS)})")
    frames = frames_root(root)
    excluded, error_file = _error_list(root)
    problems: list[Problem] = []
    if frames is None:
        problems.append(Problem(NAME, str(root), None, None, "no frames folder (spNO.N folders)"))
    rows = []
    for number, c in read_sheet(
        sheet,
        COLUMNS,
        sheet="label",
        required=("subject", "filename", "onset", "apex", "offset", "emotion"),
    ):
        subject, filename = cell_text(c.get("subject")), cell_text(c.get("filename")).lower()
        rows.append(
            RawRow(
                subject,
                sample_id(subject, filename, c.get("onset")),
                c.get("onset"),
                c.get("apex"),
                c.get("offset"),
                c.get("emotion"),
                c.get("action_units"),
                sheet,
                number,
                _clip_dir(frames, subject, filename) if frames else None,
                {"objective_class": cell_text(c.get("objective_class"))},
            )
        )
    files = {"annotation": str(sheet), "frames": str(frames) if frames else ""}
    if error_file:
        files["error_list"] = error_file
    return finish(NAME, root, rows, EMOTIONS, files, exclude=excluded, problems=problems)


DATASET = DatasetInfo(
    name="casme3",
    folder="CASME3",
    order=3,
    inspect=inspect,
    title="CAS(ME)^3 Part A",
    aliases=("cas(me)3", "cas(me)^3", "casme^3"),
)
