"""Input views: what a model is fed, each declared by a frozen configuration with a stable hash.

A view is computed from the same detection, landmarks and eye-centre alignment as every other
view of the sample (`mer_bench.data.preprocess.view_pipeline`); its configuration holds only what is
particular to it (size, colour, time axis). What it shares with the other views (face detection,
the alignment's framing, the flow method and scaling) comes from the run's `PreprocessConfig`;
`view_hash(view, config)` combines the view's fields with exactly the parts of that config it
depends on, so the pair is a run's input identity. Layouts, scales and rules: docs/preprocessing.md.

| name        | array                         | dtype   | scale                                  |
|-------------|-------------------------------|---------|----------------------------------------|
| `flow28`    | (N, 3, 28, 28) + points       | float32 | 0-255 per-channel min-max (as today)   |
| `flow`      | (N, 3, S, S)                  | float32 | 0-255 per-channel min-max              |
| `frames`    | (N, 2, C, S, S) onset, apex   | uint8   | 0-255 pixel values, C = 1 grey / 3 RGB |
| `clip`      | (N, T, C, S, S)               | uint8   | 0-255 pixel values                     |
| `landmarks` | (N, T, 68, 2) (x, y)          | float32 | pixels of the S x S aligned crop       |
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Union

from mer_bench.core.cards import stable_hash
from mer_bench.data.preprocess.config import PIPELINE_VERSION, PreprocessConfig

#: Bumped when the code changes what the same view configuration produces (invalidates caches).
VIEWS_VERSION = "1"
COLORS = ("grey", "rgb")
#: Where a clip's time axis ends: the annotated offset, or the apex frame the flow uses.
SPANS = ("offset", "apex")


def _check_size(size: int, name: str = "size") -> None:
    if not 8 <= size <= 1024:
        raise ValueError(f"{name} must be within 8..1024 pixels, got {size}")


def _check_time_axis(length: int, span: str) -> None:
    """The time axis of a clip-shaped view: 2..256 frames over a known span."""
    if not 2 <= length <= 256:
        raise ValueError(f"length must be within 2..256 frames, got {length}")
    if span not in SPANS:
        raise ValueError(f"span must be one of {SPANS}, got {span!r}")


@dataclass(frozen=True)
class ViewConfig:
    """Shared behaviour: the view's own hash and the hash of everything its arrays depend on.

    Each view is registered under the `mer_bench.views` entry-point group (`mer-bench list
    views`); a model card names its view and the view's parameters.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: numpy dtype of the view's arrays.
    dtype: ClassVar[str] = "float32"

    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one sample's array (what `data[i]` holds)."""
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """The view's declared parameters (what a model card would write)."""
        return dataclasses.asdict(self)

    def hash(self) -> str:
        """Stable hash of the view's name, its parameters and the views code version."""
        return stable_hash({"view": self.name, "params": self.params(), "version": VIEWS_VERSION})

    def depends_on(self, config: PreprocessConfig) -> dict[str, Any]:
        """The parts of the run's preprocessing configuration this view's arrays depend on."""
        raise NotImplementedError

    def channels(self) -> int:
        return 3


@dataclass(frozen=True)
class Flow28View(ViewConfig):
    """Today's 28x28 input: (strain, v, u) on the 0-255 min-max scale, plus HTNet's five points.

    Every parameter is in `PreprocessConfig` (crop size, flow method, output size, scaling), so
    this view has none of its own; it is computed and cached exactly as `run_pipeline` does.
    """

    name: ClassVar[str] = "flow28"
    description: ClassVar[str] = "onset-apex flow at 28x28 (strain, v, u) and five facial points"

    def sample_shape(self) -> tuple[int, ...]:
        return (3, 28, 28)

    def depends_on(self, config: PreprocessConfig) -> dict[str, Any]:
        return {"config": config.hash()}


@dataclass(frozen=True)
class FlowView(ViewConfig):
    """u, v and optical strain at a declared size, in FLOW28_CHANNELS order (strain, v, u).

    size: side of the output in pixels.
    crop_size: side of the aligned crop the flow is computed on, then area-averaged down to `size`
        (as flow28 computes on the 128 px crop); None computes the flow at `size` directly.
    Flow method and the min-max scaling rule are the run's (`PreprocessConfig.flow`, `.scaling`).
    """

    name: ClassVar[str] = "flow"
    description: ClassVar[str] = "onset-apex flow (strain, v, u) at a declared size"
    size: int = 112
    crop_size: int | None = None

    def __post_init__(self) -> None:
        _check_size(self.size)
        if self.crop_size is not None:
            _check_size(self.crop_size, "crop_size")
            if self.crop_size < self.size:
                raise ValueError(f"crop_size {self.crop_size} is smaller than size {self.size}")

    def sample_shape(self) -> tuple[int, ...]:
        return (3, self.size, self.size)

    @property
    def flow_size(self) -> int:
        """Side of the crop the flow is computed on."""
        return self.crop_size or self.size

    def depends_on(self, config: PreprocessConfig) -> dict[str, Any]:
        align = dataclasses.replace(config.align, size=self.flow_size)
        return {"face": config.face, "align": align, "flow": config.flow,
                "scaling": config.scaling}


@dataclass(frozen=True)
class FramesView(ViewConfig):
    """The aligned onset and apex crops: (2, C, size, size) uint8, onset first.

    color: "grey" (C = 1, the frames the flow is computed from) or "rgb" (C = 3, R, G, B; the
        colour frame read and warped with the same transform).
    """

    name: ClassVar[str] = "frames"
    description: ClassVar[str] = "the aligned onset and apex crops, grey or RGB"
    dtype: ClassVar[str] = "uint8"
    size: int = 112
    color: str = "rgb"

    def __post_init__(self) -> None:
        _check_size(self.size)
        if self.color not in COLORS:
            raise ValueError(f"color must be one of {COLORS}, got {self.color!r}")

    def channels(self) -> int:
        return 3 if self.color == "rgb" else 1

    def sample_shape(self) -> tuple[int, ...]:
        return (2, self.channels(), self.size, self.size)

    def depends_on(self, config: PreprocessConfig) -> dict[str, Any]:
        return {"face": config.face, "align": dataclasses.replace(config.align, size=self.size)}


@dataclass(frozen=True)
class ClipView(ViewConfig):
    """T aligned frames resampled in time: (T, C, size, size) uint8.

    length: T, frames taken at evenly spaced times from the onset to the end of the span, both
        ends included, each the nearest frame (see `mer_bench.data.preprocess.timeaxis`).
    span: "offset" (onset..offset) or "apex" (onset..the apex frame the flow uses).
    """

    name: ClassVar[str] = "clip"
    description: ClassVar[str] = "T aligned frames resampled from onset to offset (or apex)"
    dtype: ClassVar[str] = "uint8"
    length: int = 8
    size: int = 112
    span: str = "offset"
    color: str = "rgb"

    def __post_init__(self) -> None:
        _check_size(self.size)
        _check_time_axis(self.length, self.span)
        if self.color not in COLORS:
            raise ValueError(f"color must be one of {COLORS}, got {self.color!r}")

    def channels(self) -> int:
        return 3 if self.color == "rgb" else 1

    def sample_shape(self) -> tuple[int, ...]:
        return (self.length, self.channels(), self.size, self.size)

    def depends_on(self, config: PreprocessConfig) -> dict[str, Any]:
        return {"face": config.face, "align": dataclasses.replace(config.align, size=self.size)}


@dataclass(frozen=True)
class LandmarksView(ViewConfig):
    """The 68 landmarks of each of the clip's T frames, in the aligned crop: (T, 68, 2) float32.

    Fitted on every frame (dlib's predictor inside the aligning detection's box) and mapped
    through the sample's single alignment transform, so the points move with the face's motion
    and share the pixel grid of a `clip` of the same size, length and span.
    """

    name: ClassVar[str] = "landmarks"
    description: ClassVar[str] = "the 68 aligned landmarks of each frame of a clip"
    length: int = 8
    size: int = 112
    span: str = "offset"

    def __post_init__(self) -> None:
        _check_size(self.size)
        _check_time_axis(self.length, self.span)

    def sample_shape(self) -> tuple[int, ...]:
        return (self.length, 68, 2)

    def depends_on(self, config: PreprocessConfig) -> dict[str, Any]:
        return {"face": config.face, "align": dataclasses.replace(config.align, size=self.size)}


View = Union[Flow28View, FlowView, FramesView, ClipView, LandmarksView]

def make_view(name: str, **params: Any) -> View:
    """A view configuration from its registered name and parameters (as a model card declares
    them); an unknown name is an UnknownNameError, bad parameters a ValueError."""
    from mer_bench.core.registry import VIEWS

    cls = VIEWS.get(name)
    try:
        return cls(**params)  # type: ignore[return-value]
    except TypeError as exc:
        raise ValueError(f"view {name!r}: {exc}") from exc


def view_hash(view: View, config: PreprocessConfig) -> str:
    """Stable hash of a view's arrays: its own parameters and the preprocessing parts it uses."""
    return stable_hash({"view": view.hash(), "depends_on": view.depends_on(config),
                        "pipeline": PIPELINE_VERSION})
