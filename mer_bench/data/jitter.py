"""Key-frame robustness: each sample's apex moved by a seeded offset in [-k, k] frames.

Apex annotations disagree between coders and spotted apexes are noisy (CausalNet, ICCV 2025), so
a model's score under a wrong apex says how much it leans on the annotation. The offset of a
sample depends only on (seed, k, dataset, subject, sample): the same sample moves the same way
in every run and for every model. A moved apex that leaves the clip is clamped into
[onset + 1, offset] (onset + 1: an apex on the onset frame has no motion) and counted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Jittered:
    """A sample's apex after jitter: the drawn offset, the apex used, and whether it was clamped."""

    offset: int
    apex: int
    clamped: bool


def jitter_offset(k: int, seed: int, key: str) -> int:
    """The seeded offset in [-k, k] of the sample `key` ("dataset/subject/sample")."""
    digest = hashlib.sha256(f"{seed}:{k}:{key}".encode()).digest()
    return int(np.random.default_rng(int.from_bytes(digest[:8], "little")).integers(-k, k + 1))


def jitter_apex(onset: int, apex: int, offset: int, k: int, seed: int, key: str) -> Jittered:
    """`apex` moved by the sample's offset and clamped into [onset + 1, offset]."""
    drawn = jitter_offset(k, seed, key)
    low, high = (onset + 1, offset) if offset > onset else (onset, offset)
    moved = apex + drawn
    used = min(max(moved, low), high)
    return Jittered(drawn, used, used != moved)
