"""The `dataset:subject` key: one spelling of "which subject of which dataset" for the whole package.

Subjects are only unique within a dataset (CASME II and CAS(ME)^3 both have a subject `1`-ish),
so folds, subject counts and per-subject groups key on the pair. This module imports nothing of
mer-bench, so every layer may use it.
"""

from __future__ import annotations

from typing import Any, TypeVar, overload

K = TypeVar("K")

#: Between the dataset and the subject in a key.
SEPARATOR = ":"


@overload
def sample_key(dataset: str, subject: str | int) -> str: ...
@overload
def sample_key(dataset: Any, subject: Any) -> Any: ...


def sample_key(dataset: Any, subject: Any) -> Any:
    """`casme2:sub01` for one (dataset, subject), or the element-wise keys for two aligned pandas
    Series (what folds group on); subjects written as numbers are keyed as their text."""
    if hasattr(dataset, "astype") or hasattr(subject, "astype"):
        return dataset.astype(str) + SEPARATOR + subject.astype(str)
    return f"{dataset}{SEPARATOR}{subject}"


def subject_of(key: str) -> str:
    """The subject part of a `dataset:subject` key (`sub01` for `casme2:sub01`)."""
    return key.split(SEPARATOR, 1)[-1]
