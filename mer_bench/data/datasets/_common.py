"""Shared machinery of the dataset loaders: problems, frame folders, annotation sheets, checks.

A loader turns the owners' files into `RawRow`s (one per annotated expression, values as the
sheet spells them); `finish` applies the corrections table, checks every row and looks up its
frames, and returns the loader table plus every problem found, each naming its file and row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mer_bench.core.errors import DataError
from mer_bench.data.au import AUParseError, parse_au_string
from mer_bench.data.contract import DATASET_COLUMNS
from mer_bench.data.datasets.corrections import Correction, corrections_for

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".bmp", ".png", ".tif", ".tiff")
_TRAILING_NUMBER = re.compile(r"(\d+)$")


@dataclass(frozen=True)
class Problem:
    """Something wrong with one sample or file. `fatal`: the sample cannot be used by a run."""

    dataset: str
    file: str
    row: int | None
    sample: str | None
    message: str
    fatal: bool = True

    def line(self) -> str:
        """One line naming the file and (spreadsheet) row: what doctor and DataError show."""
        where = self.file if self.row is None else f"{self.file}, row {self.row}"
        what = f"{self.sample}: " if self.sample else ""
        return f"{where}: {what}{self.message}"


@dataclass
class RawRow:
    """One annotated expression as read from the owners' files, before corrections and checks."""

    subject: str
    sample: str
    onset: Any
    apex: Any
    offset: Any
    emotion: Any
    action_units: Any
    file: Path
    row: int | None
    clip: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoadResult:
    """A dataset read from disk: its usable samples, every problem, and the files it used."""

    dataset: str
    root: Path
    table: pd.DataFrame
    problems: list[Problem]
    files: dict[str, str]
    corrections_applied: int = 0

    @property
    def fatal(self) -> list[Problem]:
        return [p for p in self.problems if p.fatal]


def frame_number(path: Path) -> int | None:
    """The absolute frame number at the end of a frame file's stem (`img46`, `006_05562`, `1294`)."""
    m = _TRAILING_NUMBER.search(path.stem)
    return int(m.group(1)) if m else None


def index_frames(folder: Path) -> dict[int, Path]:
    """Frame number -> image file for one clip folder (empty when the folder does not exist)."""
    if not folder.is_dir():
        return {}
    out: dict[int, Path] = {}
    for p in folder.iterdir():
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
            n = frame_number(p)
            if n is not None:
                out[n] = p
    return out


def find_file(root: Path, patterns: Iterable[str], depth: int = 2) -> Path | None:
    """The first file under `root` (at most `depth` levels down) matching a glob, by pattern order."""
    for pattern in patterns:
        for level in range(depth + 1):
            hits = sorted(root.glob("/".join(["*"] * level + [pattern])))
            hits = [h for h in hits if h.is_file() and not h.name.startswith("~$")]
            if hits:
                return hits[0]
    return None


def find_dir(root: Path, test: Callable[[Path], bool], depth: int = 3) -> Path | None:
    """The shallowest folder under `root` (itself included) passing `test`, names sorted."""
    level = [root]
    for _ in range(depth + 1):
        for d in level:
            if test(d):
                return d
        level = sorted(c for d in level for c in d.iterdir() if c.is_dir())
    return None


def has_child(pattern: str) -> Callable[[Path], bool]:
    """A `find_dir` test: the folder holds a sub-folder whose name fully matches `pattern`."""
    regex = re.compile(pattern)
    return lambda d: any(c.is_dir() and regex.fullmatch(c.name) for c in d.iterdir())


def _norm(name: Any) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def read_sheet(
    path: Path,
    columns: dict[str, tuple[str, ...]],
    sheet: str | int = 0,
    required: tuple[str, ...] = (),
    header_key: str = "Filename",
) -> list[tuple[int, dict[str, Any]]]:
    """Rows of an annotation sheet as (spreadsheet row number, {field: cell}).

    The header is the first of the top 30 rows naming a `header_key` column (`Filename`; 4DME
    names its clips `fold_name`), so preambles (SAMM's
    13 rows) and blank columns (CASME II's) are skipped. `columns` maps a field to accepted
    header spellings (compared lower-case, letters and digits only). Empty rows are dropped.
    """
    import zipfile

    try:
        raw = pd.read_excel(path, sheet_name=sheet, header=None, dtype=object)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "specify an engine" in reason or isinstance(exc, zipfile.BadZipFile):
            reason = "not a readable Excel file: corrupt, or not .xls/.xlsx content"
        raise DataError(f"{path}: cannot read annotation sheet {sheet!r} ({reason})") from exc
    header_at = None
    for i in range(min(30, len(raw))):
        if _norm(header_key) in {_norm(v) for v in raw.iloc[i] if pd.notna(v)}:
            header_at = i
            break
    if header_at is None:
        raise DataError(f"{path}: no header row with a '{header_key}' column in the first 30 rows")
    header = [_norm(v) if pd.notna(v) else "" for v in raw.iloc[header_at]]
    where: dict[str, int] = {}
    for key, spellings in columns.items():
        for j, h in enumerate(header):
            if h and h in {_norm(s) for s in spellings}:
                where[key] = j
                break
    missing = [k for k in required if k not in where]
    if missing:
        raise DataError(f"{path}, row {header_at + 1}: header lacks columns {missing}")
    rows = []
    for i in range(header_at + 1, len(raw)):
        cells = raw.iloc[i]
        if all(pd.isna(v) or str(v).strip() == "" for v in cells):
            continue
        rows.append(
            (
                i + 1,
                {k: (None if pd.isna(cells.iloc[j]) else cells.iloc[j]) for k, j in where.items()},
            )
        )
    return rows


def as_int(value: Any) -> int | None:
    """An int from a sheet cell (`46`, `46.0`, `' 46 '`), or None when it holds no frame number."""
    if value is None:
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.0+)?", text):
        return int(float(text))
    return None


def cell_text(value: Any) -> str:
    """A sheet cell as text; int-valued floats lose their `.0` (AU `12.0` -> `12`)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _apply_corrections(
    row: RawRow, fixes: list[Correction], dataset: str, problems: list[Problem]
) -> tuple[bool, int]:
    """Apply matching corrections in place; returns (excluded, number applied)."""
    applied = 0
    for fix in fixes:
        if fix.sample not in ("*", row.sample):
            continue
        if fix.field == "exclude":
            return True, applied + 1
        current = cell_text(getattr(row, fix.field))
        if fix.old and current != fix.old:
            if fix.sample != "*":
                problems.append(
                    Problem(
                        dataset,
                        str(row.file),
                        row.row,
                        row.sample,
                        f"correction of {fix.field} not applied: expected "
                        f"{fix.old!r}, sheet has {current!r}",
                        fatal=False,
                    )
                )
            continue
        if fix.new == "middle":
            onset, offset = as_int(row.onset), as_int(row.offset)
            if onset is None or offset is None:
                continue
            value: Any = (onset + offset) // 2
        else:
            value = fix.new
        setattr(row, fix.field, value)
        applied += 1
    return False, applied


def finish(
    dataset: str,
    root: Path,
    rows: list[RawRow],
    emotions: tuple[str, ...],
    files: dict[str, str],
    exclude: dict[str, str] | None = None,
    problems: list[Problem] | None = None,
) -> LoadResult:
    """Corrections, checks and frame look-up for a loader's rows -> `LoadResult`.

    `exclude` maps sample ids to a reason (an owner's exclusion list) and drops them silently
    like `exclude` corrections. Fatal problems drop the sample from the table.
    """
    problems = list(problems or [])
    fixes = corrections_for(dataset)
    exclude = exclude or {}
    records, seen, applied = [], {}, 0
    frame_cache: dict[Path, dict[int, Path]] = {}
    for r in rows:
        excluded, n = _apply_corrections(r, fixes, dataset, problems)
        applied += n
        if excluded or r.sample in exclude:
            continue
        where = (dataset, str(r.file), r.row, r.sample)
        onset, apex, offset = as_int(r.onset), as_int(r.apex), as_int(r.offset)
        bad = [
            f"{name} {cell_text(v)!r} is not a frame number"
            for name, v, n in (
                ("onset", r.onset, onset),
                ("apex", r.apex, apex),
                ("offset", r.offset, offset),
            )
            if n is None
        ]
        if bad:
            problems.append(Problem(*where, "; ".join(bad)))
            continue
        if offset < onset:
            problems.append(Problem(*where, f"offset {offset} before onset {onset}"))
            continue
        if not onset <= apex <= offset:
            problems.append(
                Problem(*where, f"apex {apex} outside [onset {onset}, offset {offset}]")
            )
            continue
        emotion = cell_text(r.emotion).lower()
        if emotion not in emotions:
            problems.append(
                Problem(
                    *where,
                    f"unknown emotion {emotion!r} (known: {', '.join(emotions)})",
                    fatal=False,
                )
            )
        try:
            parse_au_string(cell_text(r.action_units))
        except AUParseError as exc:  # fatal only for AU tasks, which refuse it when they read it
            problems.append(
                Problem(
                    *where,
                    f"AU string {cell_text(r.action_units)!r} cannot be parsed ({exc})",
                    fatal=False,
                )
            )
        key = (r.subject, r.sample)
        if key in seen:
            problems.append(Problem(*where, f"duplicate sample (also row {seen[key]})"))
            continue
        seen[key] = r.row
        if r.clip is None or not r.clip.is_dir():
            problems.append(
                Problem(dataset, str(r.clip or root), r.row, r.sample, "clip folder missing")
            )
            continue
        if r.clip not in frame_cache:
            frame_cache[r.clip] = index_frames(r.clip)
        index = frame_cache[r.clip]
        need = [
            f"{name} frame {n}" for name, n in (("onset", onset), ("apex", apex)) if n not in index
        ]
        if need:
            problems.append(
                Problem(dataset, str(r.clip), r.row, r.sample, f"missing {' and '.join(need)}")
            )
            continue
        gaps = [n for n in range(onset, offset + 1) if n not in index]
        if gaps:
            problems.append(
                Problem(
                    dataset,
                    str(r.clip),
                    r.row,
                    r.sample,
                    f"{len(gaps)} missing frames in [onset, offset], first {gaps[0]}",
                    fatal=False,
                )
            )
        frames = [index[n] for n in range(onset, offset + 1) if n in index]
        records.append(
            {
                "dataset": dataset,
                "subject": r.subject,
                "sample": r.sample,
                "onset": onset,
                "apex": apex,
                "offset": offset,
                "emotion": emotion,
                "action_units": cell_text(r.action_units),
                "frames": frames,
                "annotation_file": str(r.file),
                "annotation_row": r.row,
                **r.extra,
            }
        )
    table = pd.DataFrame.from_records(records)
    if table.empty:
        table = pd.DataFrame({c: pd.Series(dtype=object) for c in DATASET_COLUMNS})
    extra = [c for c in table.columns if c not in DATASET_COLUMNS]
    table = table[list(DATASET_COLUMNS) + extra]
    for c in ("onset", "apex", "offset"):
        table[c] = table[c].astype("int64")
    return LoadResult(dataset, root, table, problems, files, applied)


def as_written(text: str) -> str:
    """The default spelling rule: an id is canonical as the owners write it."""
    return text


def no_spellings(canonical: str) -> tuple[str, ...]:
    """The default for alternative spellings: none beyond the given and canonical ones."""
    return ()


#: A doctor check a dataset declares: (its loader table, its root) -> the problems found.
DoctorCheck = Callable[[pd.DataFrame, Path], list[Problem]]


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset: everything mer-bench knows about it lives here, not in the core.

    - `name`, `folder` (the conventional sub-folder of `--data-root`), `order` (doctor's listing
      order) and `inspect(root) -> LoadResult` (the owners' layout, read into the loader table);
    - `title` (for help and doctor) and `aliases` (other spellings of its name: `CASME_2`, ...);
    - `canonical_subject` / `canonical_sample`: the one spelling of a subject / sample id that
      rows from different files are matched on (given stripped text, e.g. SMIC `s01` -> `s1`);
    - `file_subject`: a canonical subject as the field's flow files spell it (HTNet's `s01`);
    - `subject_spellings` / `sample_spellings`: further spellings a flow folder may use;
    - `checks`: doctor checks beyond the generic ones (each returns problems with file and row).
    """

    name: str
    folder: str
    order: int
    inspect: Callable[[Path], LoadResult]
    title: str = ""
    aliases: tuple[str, ...] = ()
    canonical_subject: Callable[[str], str] = as_written
    canonical_sample: Callable[[str], str] = as_written
    file_subject: Callable[[str], str] = as_written
    subject_spellings: Callable[[str], tuple[str, ...]] = no_spellings
    sample_spellings: Callable[[str], tuple[str, ...]] = no_spellings
    checks: tuple[DoctorCheck, ...] = ()
