"""A run's identity: the declared fields that define its computation, and its two hashes.

Two runs with the same identity compute the same predictions. `config_hash` covers every field
(a run may be resumed only under the same one); `group_hash` leaves out the seed, so the runs of
one configuration with different seeds are one row on the board, one experiment, one line of a
paper table. Every field is declared here; nothing is found by exclusion. The identity is
computed once, by the engine, and stored with the run; resume, the board, export and import read
the stored one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mer_bench.core.cards import stable_hash

#: Bumped when the meaning of a field changes; part of both hashes.
IDENTITY_VERSION = 2


@dataclass(frozen=True)
class RunIdentity:
    """What defines a run (see the module docstring)."""

    model: str
    protocol: str
    source: str
    data: Mapping[str, Any] = field(default_factory=dict)  # the source's identity options
    view: Mapping[str, Any] = field(default_factory=dict)  # the input view and its parameters
    selection: str = "fixed"
    selection_options: Mapping[str, Any] = field(default_factory=dict)
    recipe: Mapping[str, Any] = field(default_factory=dict)  # the effective recipe
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": IDENTITY_VERSION,
            **{f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)},
        }

    @property
    def config_hash(self) -> str:
        """Hash of the whole identity, seed included."""
        return stable_hash(self.as_dict())

    @property
    def group_hash(self) -> str:
        """Hash of the identity without the seed: equal for the seeds of one configuration."""
        return stable_hash({k: v for k, v in self.as_dict().items() if k != "seed"})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunIdentity:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def differences(self, other: RunIdentity) -> list[str]:
        """Fields (dotted for nested ones) whose values differ, for messages."""
        mine, theirs = self.as_dict(), other.as_dict()
        out = []
        for key in mine:
            a, b = mine[key], theirs.get(key)
            if a == b:
                continue
            if isinstance(a, dict) and isinstance(b, dict):
                out += [
                    f"{key}.{k}: {a.get(k)!r} vs {b.get(k)!r}"
                    for k in sorted(set(a) | set(b))
                    if a.get(k) != b.get(k)
                ]
            else:
                out.append(f"{key}: {a!r} vs {b!r}")
        return out


def _plain(value: Any) -> Any:
    """JSON-shaped copies: mappings as sorted dicts, tuples as lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
