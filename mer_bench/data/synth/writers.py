"""Write generated clips in the folder layouts and annotation files of the datasets' owners.

CASME II, SAMM and SMIC-HS each get the tree and annotation sheet their real releases have (see
the project's dataset notes), so the demo goes through the same loaders as licensed data. Files
are byte-for-byte reproducible: image encoders are deterministic and the spreadsheets are
rewritten with fixed timestamps.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

#: Folder of each dataset under the generator's output directory.
DATASET_DIRS = {"casme2": "CASME2", "samm": "SAMM", "smic": "SMIC"}
CASME2_SHEET = "CASME2-coding-20140508.xlsx"
SAMM_SHEET = "SAMM_Micro_FACS_Codes_v2.xlsx"
_FIXED_TIME = "2019-01-01T00:00:00Z"


@dataclass(frozen=True)
class ClipRecord:
    """One generated micro-expression as its dataset's annotation describes it.

    subject: the owner's spelling ("sub01" folder -> 1 for CASME II, "006" for SAMM, "s1" for SMIC).
    onset/apex/offset: absolute frame numbers; the clip holds every frame onset..offset.
    """

    dataset: str
    subject: str
    clip: str
    emotion: str
    action_units: str
    onset: int
    apex: int
    offset: int
    inducement: int = 0
    objective_class: int = 0


def clip_dir(out: Path, record: ClipRecord) -> Path:
    """The folder that holds a clip's frames."""
    root = out / DATASET_DIRS[record.dataset]
    if record.dataset == "casme2":
        return root / "CASME2_RAW_selected" / record.subject / record.clip
    if record.dataset == "samm":
        return root / record.subject / record.clip
    if record.dataset == "smic":
        return (
            root / "SMIC_all_raw" / "HS" / record.subject / "micro" / record.emotion / record.clip
        )
    raise ValueError(f"no writer for dataset {record.dataset!r}")


def frame_name(record: ClipRecord, frame: int) -> str:
    """A frame's file name in its dataset's convention (absolute frame numbers)."""
    if record.dataset == "casme2":
        return f"img{frame}.jpg"
    if record.dataset == "samm":
        return f"{record.subject}_{frame:05d}.jpg"
    return f"image{frame:06d}.bmp"


def write_frames(out: Path, record: ClipRecord, frames: list[np.ndarray]) -> list[Path]:
    """Write RGB uint8 frames onset..offset (SAMM as grayscale, as its camera records)."""
    if len(frames) != record.offset - record.onset + 1:
        raise ValueError(
            f"{record.clip}: {len(frames)} frames for onset {record.onset}..offset {record.offset}"
        )
    folder = clip_dir(out, record)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, rgb in zip(range(record.onset, record.offset + 1), frames):
        path = folder / frame_name(record, number)
        if record.dataset == "samm":
            image = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        else:
            image = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix == ".jpg" else []
        if not cv2.imwrite(str(path), image, params):
            raise OSError(f"{path}: could not write frame")
        paths.append(path)
    return paths


def write_annotations(out: Path, records: list[ClipRecord]) -> list[Path]:
    """Each dataset's annotation sheet (SMIC has none: its labels are its folder names)."""
    written = []
    casme2 = [r for r in records if r.dataset == "casme2"]
    if casme2:
        written.append(_write_casme2(out / DATASET_DIRS["casme2"] / CASME2_SHEET, casme2))
    samm = [r for r in records if r.dataset == "samm"]
    if samm:
        written.append(_write_samm(out / DATASET_DIRS["samm"] / SAMM_SHEET, samm))
    return written


def _write_casme2(path: Path, records: list[ClipRecord]) -> Path:
    """`Subject | Filename | (blank) | OnsetFrame | ApexFrame | OffsetFrame | (blank) | Action Units
    | Estimated Emotion`, Subject as an int, emotions lower case."""
    header = [
        "Subject",
        "Filename",
        None,
        "OnsetFrame",
        "ApexFrame",
        "OffsetFrame",
        None,
        "Action Units",
        "Estimated Emotion",
    ]
    rows = [
        [
            int(r.subject.removeprefix("sub")),
            r.clip,
            None,
            r.onset,
            r.apex,
            r.offset,
            None,
            r.action_units,
            r.emotion,
        ]
        for r in records
    ]
    return _write_xlsx(path, "Sheet1", [header, *rows])


def _write_samm(path: Path, records: list[ClipRecord]) -> Path:
    """13 rows of preamble, the header on row 14, then one row per micro-expression."""
    preamble: list[list] = [
        ["SAMM Micro-Movements FACS codes"],
        ["Synthetic demo data written by mer-bench (not the SAMM dataset)."],
        [],
        ["Frame numbers are absolute indices into each video's frames."],
        ["Duration = Offset Frame - Onset Frame + 1 (frames at 200 fps)."],
        ["Estimated Emotion: the emotion the inducement aimed at."],
        ["Objective Classes: I-VII of the MEGC2018 objective classes (numbered 1-7)."],
        [],
        [],
        [],
        [],
        [],
        [],
    ]
    header = [
        "Subject",
        "Filename",
        "Inducement Code",
        "Onset Frame",
        "Apex Frame",
        "Offset Frame",
        "Duration",
        "Micro",
        "Action Units",
        "Estimated Emotion",
        "Objective Classes",
        "Notes",
    ]
    rows = [
        [
            r.subject,
            r.clip,
            r.inducement,
            r.onset,
            r.apex,
            r.offset,
            r.offset - r.onset + 1,
            "Micro",
            r.action_units,
            r.emotion,
            r.objective_class,
            None,
        ]
        for r in records
    ]
    return _write_xlsx(path, "MICRO_ONLY", [*preamble, header, *rows])


def _write_xlsx(path: Path, title: str, rows: list[list]) -> Path:
    """One-sheet workbook, written so that equal rows give identical bytes."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_normalise_zip(buffer.getvalue()))
    return path


def _normalise_zip(data: bytes) -> bytes:
    """The same archive with fixed entry timestamps and fixed created/modified document times."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(
                    rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:)",
                    rb"\g<1>" + _FIXED_TIME.encode() + rb"\g<3>",
                    content,
                )
            entry = zipfile.ZipInfo(info.filename, date_time=(2019, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, content)
    return out.getvalue()
