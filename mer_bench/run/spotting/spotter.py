"""Spotter plugins: a card, a builder and the view of the long video they read.

A spotter is registered in the entry-point group `mer_bench.spotters` as a `SpotterSpec`, the
way a recognition model is a `ModelSpec`: `card` says what it is and which view parameters it
reads (`RegionMotionConfig`), `build()` returns a fresh `Spotter`. A spotter is trained on the
training subjects of a fold (`fit`: the views of their videos and their annotated expressions;
a classical spotter tunes its threshold there) and then spots each held-out video (`predict`:
inclusive (onset, offset) frame intervals in the video's numbering).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from mer_bench.core.registry import Registry
from mer_bench.data.longvideo.model import Expression
from mer_bench.data.longvideo.motion import RegionMotionConfig, VideoMotion


@runtime_checkable
class Spotter(Protocol):
    """What a spotter does: learn from training videos, then spot intervals in a new one."""

    def fit(
        self, videos: Sequence[VideoMotion], truth: Sequence[Sequence[Expression]], seed: int
    ) -> None: ...

    def predict(self, video: VideoMotion) -> list[tuple[int, int]]: ...


@dataclass(frozen=True)
class SpotterCard:
    """What a reader needs to know about a registered spotter."""

    name: str
    description: str
    reference: str
    year: int
    view_params: dict[str, Any] = field(default_factory=dict)
    trainable: bool = False  # True: learns weights (not only a threshold) on the training folds
    notes: str = ""

    def __post_init__(self) -> None:
        if (
            not self.name
            or self.name != self.name.lower()
            or not all(c.isalnum() or c in "-_." for c in self.name)
        ):
            raise ValueError(
                f"registry name {self.name!r} must be lowercase letters, digits, '-', '_' or '.'"
            )
        if not self.description or "\n" in self.description:
            raise ValueError(f"card {self.name}: description must be one non-empty line")
        self.view_config()

    def __hash__(self) -> int:
        return hash(self.name)

    def view_config(self) -> RegionMotionConfig:
        """The view this spotter reads."""
        try:
            return RegionMotionConfig(**self.view_params)
        except TypeError as exc:
            raise ValueError(
                f"card {self.name}: view parameters {self.view_params}: {exc}"
            ) from exc


@dataclass(frozen=True)
class SpotterSpec:
    """A registered spotter: its card and `build() -> Spotter`."""

    card: SpotterCard
    build: Callable[[], Spotter]

    def __post_init__(self) -> None:
        if not isinstance(self.card, SpotterCard):
            raise TypeError("SpotterSpec.card must be a SpotterCard")
        if not callable(self.build):
            raise TypeError(f"spotter {self.card.name}: build must be callable")


def _check(name: str, obj: Any) -> SpotterSpec:
    if not isinstance(obj, SpotterSpec):
        raise TypeError(f"entry point must give a SpotterSpec, got {type(obj).__name__}")
    if obj.card.name != name:
        raise ValueError(f"entry point name {name!r} differs from its card's {obj.card.name!r}")
    return obj


SPOTTERS: Registry[SpotterSpec] = Registry("spotter", "mer_bench.spotters", _check)
