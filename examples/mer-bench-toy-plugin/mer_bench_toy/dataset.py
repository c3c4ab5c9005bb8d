"""The `toyfaces` dataset: its owners' layout, spellings and checks, declared in one object.

Layout (first found under the dataset root):

    labels.csv                  person,clip,onset,apex,offset,feeling  (one row per clip)
    faces/<person>/<clip>/<n>.png   frames, n the absolute frame number

Persons are written `p1`, `P01`, `person-1` in different files of the owners; mer-bench matches
them on the canonical `P01`.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd

from mer_bench.core.errors import DataError
from mer_bench.data.datasets import DatasetInfo, LoadResult, Problem
from mer_bench.data.datasets._common import RawRow, finish

NAME = "toyfaces"
FEELINGS = ("glad", "sad", "startled", "neutral")


def canonical_person(text: str) -> str:
    """`p1`, `P01`, `person-1` -> `P01` (the folder name)."""
    m = re.fullmatch(r"(?:p|person-?)0*(\d+)", text.strip(), flags=re.IGNORECASE)
    return f"P{int(m.group(1)):02d}" if m else text


def inspect(root: Path) -> LoadResult:
    """Read `labels.csv` and find each clip's frames; every problem is collected."""
    labels = root / "labels.csv"
    if not labels.is_file():
        raise DataError(f"{root}: no labels.csv (toyfaces keeps one row per clip there)")
    with labels.open(newline="") as fh:
        table = list(csv.DictReader(fh))
    missing = {"person", "clip", "onset", "apex", "offset", "feeling"} - set(
        table[0] if table else {}
    )
    if missing:
        raise DataError(f"{labels}, row 1: header lacks {sorted(missing)}")
    rows = [
        RawRow(
            canonical_person(r["person"]),
            r["clip"],
            r["onset"],
            r["apex"],
            r["offset"],
            r["feeling"],
            "",
            labels,
            number + 2,
            root / "faces" / canonical_person(r["person"]) / r["clip"],
        )
        for number, r in enumerate(table)
    ]
    return finish(
        NAME, root, rows, FEELINGS, {"annotation": str(labels), "frames": str(root / "faces")}
    )


def short_clips(table: pd.DataFrame, root: Path) -> list[Problem]:
    """A doctor check of this dataset: clips of fewer than 3 frames (too short for a flow)."""
    return [
        Problem(
            NAME,
            str(root / "labels.csv"),
            None,
            row.sample,
            f"only {row.offset - row.onset + 1} frames",
            fatal=False,
        )
        for row in table.itertuples(index=False)
        if row.offset - row.onset < 2
    ]


DATASET = DatasetInfo(
    name=NAME,
    folder="TOYFACES",
    order=10,
    inspect=inspect,
    title="Toy faces (example plugin)",
    aliases=("toy-faces",),
    canonical_subject=canonical_person,
    checks=(short_clips,),
)
