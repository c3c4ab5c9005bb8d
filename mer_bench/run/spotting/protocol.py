"""Spotting protocols: which long-video datasets, MEGC's length limits, and the split rule.

Declared as data (`SpottingProtocol`) in `protocols/spotting.py` and registered in the
entry-point group `mer_bench.spotting_protocols`. The split is leave-one-subject-out inside
each dataset; a protocol over several datasets (MEGC's composite) pools their counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mer_bench.core.registry import Registry
from mer_bench.results.spotting_metrics import LengthLimits


@dataclass(frozen=True)
class SpottingProtocol:
    """A spotting protocol: its datasets and each one's micro-expression length limits."""

    name: str
    description: str
    reference: str
    year: int
    limits: dict[str, LengthLimits]  # dataset -> limits; its keys are the datasets
    split: str = "loso"
    notes: str = ""

    def __post_init__(self) -> None:
        if not self.limits:
            raise ValueError(f"protocol {self.name}: needs at least one dataset")
        if self.split != "loso":
            raise ValueError(f"protocol {self.name}: unknown split rule {self.split!r}")

    def __hash__(self) -> int:
        return hash(self.name)

    @property
    def datasets(self) -> tuple[str, ...]:
        return tuple(self.limits)


def _check(name: str, obj: Any) -> SpottingProtocol:
    if not isinstance(obj, SpottingProtocol):
        raise TypeError(f"entry point must give a SpottingProtocol, got {type(obj).__name__}")
    if obj.name != name:
        raise ValueError(f"entry point name {name!r} differs from its name {obj.name!r}")
    return obj


SPOTTING_PROTOCOLS: Registry[SpottingProtocol] = Registry(
    "spotting protocol", "mer_bench.spotting_protocols", _check
)
