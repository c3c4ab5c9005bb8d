"""Resolving an explicit sample list (e.g. MEGC2019's 442) against the loaders' tables.

Sample and subject spellings differ between lists and the owners' files (`6` vs `006`, `s01` vs
`s1`), so rows are matched on `mer_bench.data.naming.sample_key`. A listed sample with no table row is
missing (an error for a run); a listed class that differs from the class the annotation gives is
a disagreement (reported, the list wins: it is the protocol).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from mer_bench.core.errors import DataError
from mer_bench.data.naming import canonical_ids


class MissingSamplesError(DataError):
    """Listed samples that the dataset tables do not hold; `missing` names them all."""

    def __init__(self, message: str, missing: list[str]) -> None:
        super().__init__(message)
        self.missing = missing


@dataclass(frozen=True)
class Match:
    """The listed rows found (in list order, with `annotation_class`), missing ids, disagreements."""

    found: pd.DataFrame
    missing: list[str]
    disagreements: list[str]


def match_listed(
    listed: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    annotation_class: Callable[[str, str], str | None],
) -> Match:
    """Match `listed` (dataset, subject, sample, class) to `tables` (dataset -> loader table).

    `annotation_class(dataset, emotion)` is the class the protocol's rules give an emotion (None:
    not in the protocol). Rows of datasets absent from `tables` are missing.
    """
    index: dict[tuple[str, str, str], str] = {}
    for dataset, table in tables.items():
        for subject, sample, emotion in zip(table["subject"], table["sample"], table["emotion"]):
            index.setdefault(canonical_ids(dataset, subject, sample), str(emotion))
    keep, found_class, missing, disagreements = [], [], [], []
    columns = zip(listed["dataset"], listed["subject"], listed["sample"], listed["class"])
    for i, (dataset, subject, sample, listed_class) in enumerate(columns):
        key = canonical_ids(dataset, subject, sample)
        name = f"{dataset}/{subject}/{sample}"
        if key not in index:
            missing.append(name)
            continue
        emotion = index[key]
        cls = annotation_class(key[0], emotion)
        if cls != listed_class:
            disagreements.append(
                f"{name}: list says {listed_class}, annotation says "
                f"{emotion!r} -> {cls or 'not in protocol'}"
            )
        keep.append(i)
        found_class.append(cls or "")
    found = listed.iloc[keep].reset_index(drop=True).assign(annotation_class=found_class)
    return Match(found, missing, disagreements)


def require_all(match: Match, what: str) -> None:
    """MissingSamplesError naming the first missing samples, unless every listed one was found."""
    if match.missing:
        more = f" (and {len(match.missing) - 10} more)" if len(match.missing) > 10 else ""
        raise MissingSamplesError(
            f"{what}: {len(match.missing)} listed samples are not in the "
            f"dataset tables: {', '.join(match.missing[:10])}{more}",
            match.missing,
        )
