"""The corrections table: every fix to an owner's annotation row, written down as data.

`corrections.csv` (shipped beside this module) has one fix per line: dataset, sample (or `*` for
every row whose value equals `old`), field (onset, apex, offset, emotion, action_units, or
`exclude`), old value (empty: any), new value (`middle`: the frame halfway between onset and
offset), and the reason. Its `# version:` line and content hash make CORRECTIONS_VERSION, which
protocols report so that each run records the corrections it used.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

FIELDS = ("onset", "apex", "offset", "emotion", "action_units", "exclude")


@dataclass(frozen=True)
class Correction:
    """One fix to one annotation row (or, with sample `*`, to every row holding `old`)."""

    dataset: str
    sample: str
    field: str
    old: str
    new: str
    reason: str


def _text() -> str:
    return resources.files("mer_bench.data.datasets").joinpath("corrections.csv").read_text("utf-8")


@lru_cache(maxsize=1)
def load_corrections() -> tuple[Correction, ...]:
    """All corrections, in file order (later lines apply after earlier ones)."""
    lines = [ln for ln in _text().splitlines() if ln.strip() and not ln.startswith("#")]
    out = []
    for i, rec in enumerate(csv.DictReader(io.StringIO("\n".join(lines)))):
        fix = Correction(
            **{
                k: (rec[k] or "").strip()
                for k in ("dataset", "sample", "field", "old", "new", "reason")
            }
        )
        if fix.field not in FIELDS or not fix.reason:
            raise ValueError(f"corrections.csv entry {i + 1}: bad field {fix.field!r} or no reason")
        out.append(fix)
    return tuple(out)


def corrections_for(dataset: str) -> list[Correction]:
    """The corrections of one dataset."""
    return [c for c in load_corrections() if c.dataset == dataset]


def _version() -> str:
    text = _text()
    declared = next(
        (ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("# version:")),
        "0",
    )
    return f"{declared}+{hashlib.sha256(text.encode()).hexdigest()[:8]}"


#: "<declared version>+<content hash>": stored with every run that reads real datasets.
CORRECTIONS_VERSION: str = _version()
