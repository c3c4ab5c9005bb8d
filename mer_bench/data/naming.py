"""Canonical spellings of dataset, subject and sample ids, as each registered dataset declares them.

The same sample is spelled differently across the owners' files, the MEGC2019 list and HTNet's
list (`s01` vs `s1` for SMIC subjects, `1` vs `sub01` for CASME II, `6` vs `006` for SAMM).
Each dataset plugin (`DatasetInfo`) declares its aliases and spelling rules; everything that
matches samples across files goes through these functions, which name no dataset.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from mer_bench.core.registry import DATASETS


@lru_cache(maxsize=1)
def _aliases() -> dict[str, str]:
    out: dict[str, str] = {}
    for name, info in DATASETS.items():
        for alias in (name, *info.aliases):
            out[alias.strip().lower()] = name
    return out


def refresh() -> None:
    """Forget the alias table (after registering a dataset in this process)."""
    _aliases.cache_clear()


def canonical_dataset(name: str) -> str:
    """'CASME2', 'casme_2', 'SMIC-HS' ... -> 'casme2', 'smic' (unknown names lower-cased)."""
    key = str(name).strip().lower()
    known = _aliases()
    if key not in known and key in DATASETS:  # registered in this process since the table was made
        refresh()
        known = _aliases()
    return known.get(key, key)


def _info(dataset: str) -> Any | None:
    """The registered dataset, or None for names no plugin declares (the demo's, say)."""
    return DATASETS.get(dataset) if dataset in DATASETS else None


def canonical_subject(dataset: str, subject: str | int) -> str:
    """The dataset's own spelling of a subject: SMIC 's01' -> 's1'; CASME II 1 -> 'sub01'."""
    dataset = canonical_dataset(dataset)
    text = str(subject).strip()
    info = _info(dataset)
    return info.canonical_subject(text) if info is not None else text


def canonical_sample(dataset: str, sample: str) -> str:
    """The dataset's own spelling of a sample id: SMIC 's01_ne_01' -> 's1_ne_01'."""
    dataset = canonical_dataset(dataset)
    text = str(sample).strip()
    info = _info(dataset)
    return info.canonical_sample(text) if info is not None else text


def canonical_ids(dataset: str, subject: str | int, sample: str) -> tuple[str, str, str]:
    """The canonical (dataset, subject, sample) triple used to match rows across files."""
    d = canonical_dataset(dataset)
    return d, canonical_subject(d, subject), canonical_sample(d, sample)


def file_subject(dataset: str, subject: str | int) -> str:
    """A subject as the field's flow files spell it (HTNet's `s01`, `sub01`, `006`)."""
    d = canonical_dataset(dataset)
    canon = canonical_subject(d, subject)
    info = _info(d)
    return info.file_subject(canon) if info is not None else canon


def subject_spellings(dataset: str, subject: str | int) -> set[str]:
    """Every spelling of a subject a flow folder may use: as given, canonical, and the
    dataset's declared alternatives."""
    d = canonical_dataset(dataset)
    canon = canonical_subject(d, subject)
    info = _info(d)
    extra = info.subject_spellings(canon) if info is not None else ()
    return {str(subject), canon, *extra}


def sample_spellings(dataset: str, sample: str) -> set[str]:
    """Every spelling of a sample id a flow folder may use (see `subject_spellings`)."""
    d = canonical_dataset(dataset)
    canon = canonical_sample(d, sample)
    info = _info(d)
    extra = info.sample_spellings(canon) if info is not None else ()
    return {str(sample), canon, *extra}
