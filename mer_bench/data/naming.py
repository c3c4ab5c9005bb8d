"""Canonical spellings of dataset, subject and sample ids.

The same sample is spelled differently across the owners' files, the MEGC2019 list and HTNet's
list (`s01` vs `s1` for SMIC subjects, `1` vs `sub01` for CASME II, `6` vs `006` for SAMM).
Everything that matches samples across files goes through these functions.
"""

from __future__ import annotations

import re

_DATASET_ALIASES = {
    "casme2": "casme2", "casmeii": "casme2", "casme_2": "casme2", "casme-2": "casme2",
    "samm": "samm", "smic": "smic", "smic-hs": "smic", "smic_hs": "smic", "smichs": "smic",
    "casme3": "casme3", "cas(me)3": "casme3", "cas(me)^3": "casme3", "casme^3": "casme3",
}


def canonical_dataset(name: str) -> str:
    """'CASME2', 'casme_2', 'SMIC-HS' ... -> 'casme2', 'smic' (unknown names lower-cased)."""
    key = str(name).strip().lower()
    return _DATASET_ALIASES.get(key, key)


def canonical_subject(dataset: str, subject: str | int) -> str:
    """SMIC 's01' -> 's1'; CASME II 1 / 'sub1' -> 'sub01'; SAMM 6 -> '006'."""
    dataset = canonical_dataset(dataset)
    text = str(subject).strip()
    if dataset == "smic":
        m = re.fullmatch(r"[sS]?0*(\d+)", text)
        return f"s{int(m.group(1))}" if m else text
    if dataset == "casme2":
        m = re.fullmatch(r"(?:sub)?0*(\d+)", text, flags=re.IGNORECASE)
        return f"sub{int(m.group(1)):02d}" if m else text
    if dataset == "samm":
        m = re.fullmatch(r"0*(\d+)", text)
        return f"{int(m.group(1)):03d}" if m else text
    return text


def canonical_sample(dataset: str, sample: str) -> str:
    """SMIC 's01_ne_01' -> 's1_ne_01'; other datasets' sample ids are kept as spelled."""
    dataset = canonical_dataset(dataset)
    text = str(sample).strip()
    if dataset == "smic":
        m = re.fullmatch(r"[sS]0*(\d+)_(.+)", text)
        return f"s{int(m.group(1))}_{m.group(2)}" if m else text
    return text


def sample_key(dataset: str, subject: str | int, sample: str) -> tuple[str, str, str]:
    """The canonical (dataset, subject, sample) triple used to match rows across files."""
    d = canonical_dataset(dataset)
    return d, canonical_subject(d, subject), canonical_sample(d, sample)
