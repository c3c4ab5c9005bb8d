"""Action units: one vocabulary for every dataset, and the parser for their AU strings.

Each dataset spells its FACS codes its own way: CASME II writes `4+7`, SAMM `AU4+L12` or `R14A`,
CAS(ME)^3 separates with commas (also the full-width `，`), 4DME tags static AUs `(k)`. MEB
(`extract_action_units`) keeps only the digits of each `+`-separated token, so `or` and `/`
merge their digits into a wrong AU and MEB fixes those rows by hand. Here every token must match
the grammar below or the string is refused, naming its file and row: a wrong AU is never made up.

Token grammar (case-insensitive, spaces ignored):  [AU] [L|R|T|B|U] [AU] <number> [A-E] [(k)]
- L/R: left/right (unilateral), T/B: top/bottom, U: unilateral without a side;
- the trailing letter is a FACS intensity (A-E) or, in SAMM's key, A for asymmetric: kept as
  written in `AUCode.suffix`, never guessed between the two;
- `(k)`: a static AU (4DME); left out of targets unless `keep_static`, as MEB does by default.
Alternatives (`12/15`, `12 or 15`) are refused: which AU was seen is a fact only the annotator has;
write the choice into the corrections table (`mer_bench/data/datasets/corrections.csv`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mer_bench.core.au_labels import encode_au_targets
from mer_bench.core.cards import ProtocolCard
from mer_bench.core.errors import DataError, UsageError
from mer_bench.core.protocol import AURules
from mer_bench.data.contract import Source

log = logging.getLogger(__name__)

#: FACS action units (Ekman, Friesen & Hager 2002): main codes, head and eye positions.
#: The shared vocabulary: a number outside it is refused as a typo.
FACS_AUS: dict[int, str] = {
    1: "inner brow raiser",
    2: "outer brow raiser",
    4: "brow lowerer",
    5: "upper lid raiser",
    6: "cheek raiser",
    7: "lid tightener",
    8: "lips toward each other",
    9: "nose wrinkler",
    10: "upper lip raiser",
    11: "nasolabial deepener",
    12: "lip corner puller",
    13: "sharp lip puller",
    14: "dimpler",
    15: "lip corner depressor",
    16: "lower lip depressor",
    17: "chin raiser",
    18: "lip pucker",
    19: "tongue show",
    20: "lip stretcher",
    21: "neck tightener",
    22: "lip funneler",
    23: "lip tightener",
    24: "lip presser",
    25: "lips part",
    26: "jaw drop",
    27: "mouth stretch",
    28: "lip suck",
    29: "jaw thrust",
    30: "jaw sideways",
    31: "jaw clencher",
    32: "lip bite",
    33: "cheek blow",
    34: "cheek puff",
    35: "cheek suck",
    36: "tongue bulge",
    37: "lip wipe",
    38: "nostril dilator",
    39: "nostril compressor",
    41: "lid droop",
    42: "slit",
    43: "eyes closed",
    44: "squint",
    45: "blink",
    46: "wink",
    50: "speech",
    51: "head turn left",
    52: "head turn right",
    53: "head up",
    54: "head down",
    55: "head tilt left",
    56: "head tilt right",
    57: "head forward",
    58: "head back",
    61: "eyes turn left",
    62: "eyes turn right",
    63: "eyes up",
    64: "eyes down",
    80: "swallow",
    81: "chewing",
    82: "shoulder shrug",
    84: "head shake back and forth",
    85: "head nod up and down",
}

#: Characters that separate tokens: `+` (everyone), `,` and `，` (CAS(ME)^3), `;`.
_SEPARATORS = re.compile(r"[+,，;]")
_TOKEN = re.compile(
    r"(?:AU)?(?P<side>[LRTBU])?(?:AU)?(?P<number>\d{1,2})(?:\.0)?(?P<suffix>[A-E])?(?P<static>\(K\))?"
)
_ALTERNATIVE = re.compile(r"/|\bOR\b")
#: Whole strings that mean "no AU annotated".
_EMPTY = {"", "NONE", "NAN", "-", "N/A"}


class AUParseError(ValueError):
    """An AU string outside the grammar; the message says which token and why."""


@dataclass(frozen=True, order=True)
class AUCode:
    """One coded action unit as written: `R14A` -> AUCode(14, side="R", suffix="A")."""

    number: int
    side: str | None = None
    suffix: str | None = None
    static: bool = False

    @property
    def name(self) -> str:
        """The vocabulary's column name, `AU14` (side and suffix dropped)."""
        return au_name(self.number)


def au_name(number: int) -> str:
    """`AU<number>`: the name of an AU target column, as MEB names its columns."""
    return f"AU{number}"


def parse_au_string(text: object) -> tuple[AUCode, ...]:
    """Every AU code in one annotation cell, in the order written.

    Empty cells (`""`, `None`, `-`, `none`) give no AUs. Raises `AUParseError` for a token
    outside the grammar, an alternative (`/`, `or`) or a number outside FACS.
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ()
    if isinstance(text, float) and text.is_integer():  # a sheet cell holding just `12`
        text = int(text)
    written = str(text).strip()
    if written.upper() in _EMPTY:
        return ()
    if _ALTERNATIVE.search(written.upper()):
        raise AUParseError("an alternative ('/' or 'or') does not say which AU was seen")
    codes = []
    for token in _SEPARATORS.split(written):
        compact = re.sub(r"\s+", "", token).upper()
        if not compact:
            raise AUParseError("an empty token between separators")
        match = _TOKEN.fullmatch(compact)
        if match is None:
            raise AUParseError(f"token {token.strip()!r} is not an AU code")
        number = int(match["number"])
        if number not in FACS_AUS:
            raise AUParseError(f"AU {number} is not a FACS action unit")
        codes.append(AUCode(number, match["side"], match["suffix"], match["static"] is not None))
    return tuple(codes)


def au_numbers(text: object, keep_static: bool = False) -> frozenset[int]:
    """The AU numbers present in one annotation cell (static `(k)` AUs only if `keep_static`)."""
    return frozenset(c.number for c in parse_au_string(text) if keep_static or not c.static)


def where_of(row: pd.Series) -> str:
    """Where a loader-table row came from: `file, row n` when the loader recorded it."""
    file, line = row.get("annotation_file"), row.get("annotation_row")
    if isinstance(file, str) and file:
        return f"{file}, row {int(line)}" if pd.notna(line) else file
    return f"{row.get('dataset')}/{row.get('sample')}"


def au_targets(table: pd.DataFrame, aus: Sequence[int], keep_static: bool = False) -> np.ndarray:
    """Binary targets (N, len(aus)) uint8 of a table's `action_units` column, one column per AU.

    Raises `DataError` (exit 3) at the first string that cannot be parsed, naming its file,
    row and the string: a sample is never dropped or read as "no AU" silently.
    """
    index = {au: j for j, au in enumerate(aus)}
    out = np.zeros((len(table), len(aus)), dtype=np.uint8)
    for i, (_, row) in enumerate(table.iterrows()):
        text = row.get("action_units")
        try:
            present = au_numbers(text, keep_static)
        except AUParseError as exc:
            raise DataError(
                f"{where_of(row)}: AU string {str(text)!r} cannot be parsed ({exc})"
            ) from exc
        for au in present:
            if au in index:
                out[i, index[au]] = 1
    return out


def au_samples(rules: AURules, card: ProtocolCard, source: Source) -> pd.DataFrame:
    """The sample table of an AU protocol on `source`: every annotated expression of each of the
    card's datasets the source has, `label` its bit-mask target (`mer_bench.core.au_labels`) and
    `class` its AUs among the task's (`AU4+AU7`, or `none`).

    Raises `UsageError` (exit 2) naming a dataset without AU annotations, or a required dataset
    the source lacks; `DataError` (exit 3) naming the file, row and string of an AU string that
    cannot be parsed.
    """
    present = [d for d in card.datasets if source.has_dataset(d)]
    missing = [d for d in card.datasets if d not in present]
    if missing and not rules.optional_datasets:
        raise UsageError(
            f"protocol '{card.name}' needs dataset(s) {', '.join(missing)}, which "
            f"source '{source.name}' does not have"
        )
    if len(present) < (2 if card.split == "hold-out-database" else 1):
        raise UsageError(
            f"protocol '{card.name}' leaves one dataset out but source "
            f"'{source.name}' has {len(present)} of {', '.join(card.datasets)}"
        )
    if missing:
        log.info(
            "%s: source '%s' lacks %s; running over %s",
            card.name,
            source.name,
            ", ".join(missing),
            ", ".join(present),
        )
    parts = []
    for dataset in present:
        table = source.dataset_table(dataset)
        written = table["action_units"].map(lambda v: str(v).strip() if v is not None else "")
        if not len(table) or not (written != "").any():
            raise UsageError(
                f"protocol '{card.name}' is an AU task but dataset '{dataset}' has "
                "no AU annotations"
            )
        targets = au_targets(table, rules.aus, rules.keep_static)
        names = [au_name(a) for a in rules.aus]
        classes = ["+".join(n for n, t in zip(names, row) if t) or "none" for row in targets]
        parts.append(
            pd.DataFrame(
                {
                    "dataset": dataset,
                    "subject": table["subject"].to_numpy(),
                    "sample": table["sample"].to_numpy(),
                    "label": encode_au_targets(targets),
                    "class": classes,
                }
            )
        )
    samples = pd.concat(parts, ignore_index=True)
    samples["label"] = samples["label"].astype("int64")
    return samples
