"""Input views: what a model is fed. Each view is a frozen configuration that carries its behaviour.

A view is a `ViewConfig` subclass registered under the `mer_bench.views` entry-point group
(`mer-bench list views`); a model card names its view and the view's parameters. The pipeline
(`mer_bench.data.preprocess.view_pipeline`) never names a view: per sample it finds the face once,
builds one `ViewContext` (the frames, the face, the single alignment transform, and the flow and
per-frame landmarks computed lazily, once) and asks each requested view to `compute` itself from
it. So a plugin package adds a view with one class and one entry point, and no mer-bench edit:

    @dataclass(frozen=True)
    class EdgeView(ViewConfig):
        name: ClassVar[str] = "edges"
        description: ClassVar[str] = "Sobel magnitude of the aligned apex crop"
        size: int = 64

        def sample_shape(self): return (1, self.size, self.size)
        def depends_on(self, config): return {"face": config.face, "align": config.align}
        def compute(self, ctx):
            apex = ctx.crop(ctx.frames.apex_path, self.size, "grey")[0].astype(np.float32)
            ...
            return {"data": edges[None]}

    # pyproject.toml of the plugin:  [project.entry-points."mer_bench.views"]
    #                                edges = "my_plugin.views:EdgeView"

What a view declares, and what the pipeline does with it:
- `compute(ctx)`: one sample's arrays, {"data": array of `sample_shape()` and `dtype`, extras...};
  extras are small per-sample arrays (e.g. flow28's points) kept beside `data`.
- `depends_on(config)`: the parts of the run's `PreprocessConfig` its arrays depend on;
  `view_hash(view, config)` combines them with the view's own parameters (the input identity).
- `frame_selection(frames)`: the frames it reads beyond onset and apex (clips), so a changed frame
  recomputes it and the selection's bad-input notes are recorded; None (default) for none.
- `cache_entry(...)`: the per-sample cache stage and key (default: from the sample, the view hash,
  the frames read and, for samples aligned with dataset-mean landmarks, those landmarks).
- `from_flow_images(flows, points, points_fallback)`: the view made from the published 28x28 flow
  PNGs the `flows` source reads; None (default) when it cannot be made from them.
- `example(n, seed)`: random arrays shaped and typed as a source gives them (`mer-bench check`).

| name        | array                         | dtype   | scale                                  |
|-------------|-------------------------------|---------|----------------------------------------|
| `flow28`    | (N, 3, 28, 28) + points       | float32 | 0-255 per-channel min-max (as today)   |
| `flow`      | (N, 3, S, S)                  | float32 | 0-255 per-channel min-max              |
| `frames`    | (N, 2, C, S, S) onset, apex   | uint8   | 0-255 pixel values, C = 1 grey / 3 RGB |
| `clip`      | (N, T, C, S, S)               | uint8   | 0-255 pixel values                     |
| `landmarks` | (N, T, 68, 2) (x, y)          | float32 | pixels of the S x S aligned crop       |

Layouts, scales and rules: docs/preprocessing.md.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from mer_bench.core.cards import stable_hash
from mer_bench.data.contract import FALLBACK_POINTS, ViewArrays
from mer_bench.data.preprocess.config import PIPELINE_VERSION, PreprocessConfig
from mer_bench.data.preprocess.frames import SampleFrames
from mer_bench.data.preprocess.timeaxis import ClipSelection, select_clip

if TYPE_CHECKING:
    from mer_bench.data.preprocess.view_compute import ViewContext

#: Bumped when the code changes what the same view configuration produces (invalidates caches).
VIEWS_VERSION = "1"
#: The view a source gives when none is asked for (`mer-bench prepare`, `Source.arrays(samples)`).
DEFAULT_VIEW = "flow28"
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
class ViewConfig(ABC):
    """An input view: its parameters (the dataclass fields), its arrays' shape and dtype, how it
    is computed from an aligned sample, and how it is cached. Subclass it, set `name` and
    `description`, and write `sample_shape`, `depends_on` and `compute`; the rest has defaults.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: numpy dtype of the view's `data` arrays.
    dtype: ClassVar[str] = "float32"
    #: Whether `compute` reads the box of the face detection (`ViewContext.frame_landmarks`): a
    #: landmark cache entry written before boxes were kept is then detected again.
    needs_face_box: ClassVar[bool] = False
    #: Another name models may read the main array by (`arrays.<data_name>`), besides `data`.
    data_name: ClassVar[str] = "data"

    # --- what every view writes ---
    @abstractmethod
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one sample's `data` (what `arrays.data[i]` holds)."""

    @abstractmethod
    def depends_on(self, config: PreprocessConfig) -> dict[str, Any]:
        """The parts of the run's preprocessing configuration this view's arrays depend on."""

    @abstractmethod
    def compute(self, ctx: ViewContext) -> dict[str, np.ndarray]:
        """One sample's arrays from its aligned sample: {"data": `sample_shape()` of `dtype`,
        plus any small per-sample extras}, cached as returned (see `from_cache`). Runs in a
        worker process, once per sample; read frames, flow and landmarks through `ctx`."""

    # --- defaults a view may override ---
    def params(self) -> dict[str, Any]:
        """The view's declared parameters (what a model card would write)."""
        return dataclasses.asdict(self)

    def hash(self) -> str:
        """Stable hash of the view's name, its parameters and the views code version."""
        return stable_hash({"view": self.name, "params": self.params(), "version": VIEWS_VERSION})

    def channels(self) -> int:
        return 3

    def frame_selection(self, frames: SampleFrames) -> ClipSelection | None:
        """The frames this view reads besides the onset and apex, with their notes; None: none."""
        return None

    def cache_entry(
        self,
        frames: SampleFrames,
        config: PreprocessConfig,
        selection: ClipSelection | None,
        mean_landmarks: np.ndarray | None,
        second_pass: bool,
    ) -> tuple[str, str]:
        """(stage, key) of one sample's cached arrays: the sample and its onset and apex files,
        this view's hash with the preprocessing parts it uses, the other frames it reads, and
        for a sample aligned with its dataset's mean landmarks (`second_pass`), those."""
        from mer_bench.data.preprocess.cache import ArrayCache
        from mer_bench.data.preprocess.pipeline import (
            frame_signature,
            mean_hash,
            sample_identity,
        )

        parts: dict[str, Any] = {**sample_identity(frames), "view": view_hash(self, config)}
        if selection is not None:
            parts["frames"] = [frame_signature(p, frames.key) for p in selection.paths]
        if second_pass:
            parts["mean_landmarks"] = mean_hash(mean_landmarks)
        return f"view_{self.name}", ArrayCache.key(parts)

    def from_cache(self, entry: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The view's arrays ({"data": ..., extras}) from what `compute` returned (and the
        cache kept). Identity by default; a view whose entry holds more, or another layout
        (flow28 keeps its first one), maps it here."""
        return entry

    def from_flow_images(
        self, flows: np.ndarray, points: np.ndarray, points_fallback: np.ndarray
    ) -> dict[str, np.ndarray] | None:
        """This view of N samples from published 28x28 flow PNGs (the `flows` source: flows
        (N, 3, 28, 28) float32 0-255 in FLOW28_CHANNELS order, points (N, 5, 2), points_fallback
        (N,)); None (the default, also for N = 0) when the view cannot be made from them."""
        return None

    def example(self, n: int = 4, seed: int = 0) -> ViewArrays:
        """Random arrays of this view as a source gives them (uint8 pixels, 0-255 floats)."""
        rng = np.random.default_rng(seed)
        shape = (n, *self.sample_shape())
        if np.dtype(self.dtype) == np.uint8:
            data = rng.integers(0, 256, shape, dtype=np.uint8)
        else:
            data = rng.uniform(0, 255, shape).astype(self.dtype)
        return ViewArrays.in_memory(self, data, {})


#: Any view configuration (kept for the annotations of code written against mer-bench 0.1).
View = ViewConfig


@dataclass(frozen=True)
class Flow28View(ViewConfig):
    """Today's 28x28 input: (strain, v, u) on the 0-255 min-max scale, plus HTNet's five points.

    Every parameter is in `PreprocessConfig` (crop size, flow method, output size, scaling), so
    this view has none of its own. Its cache entries keep their first layout and key (stage
    "flow28", keyed by the whole preprocessing configuration), so caches made before views
    existed stay valid. It is also what the `flows` source reads from published flow PNGs.
    """

    name: ClassVar[str] = "flow28"
    description: ClassVar[str] = "onset-apex flow at 28x28 (strain, v, u) and five facial points"
    data_name: ClassVar[str] = "flow"

    def sample_shape(self) -> tuple[int, ...]:
        return (3, 28, 28)

    def depends_on(self, config: PreprocessConfig) -> dict[str, Any]:
        return {"config": config.hash()}

    def compute(self, ctx: ViewContext) -> dict[str, np.ndarray]:
        """The flow of the aligned crops at the configured size, reduced to `output_size` and
        scaled; the apex landmarks' five points mapped into the same pixels."""
        from mer_bench.data.preprocess.flow28 import to_flow28
        from mer_bench.data.preprocess.points import five_points

        config, face = ctx.config, ctx.face
        flow, strain = ctx.flow(config.align.size)
        with ctx.timed("flow28"):
            data = to_flow28(flow, strain, config.output_size, config.scaling)
            if len(face.apex):
                points = five_points(
                    face.apex, ctx.matrix(config.align.size), config.align.size, config.output_size
                )
            else:
                points = FALLBACK_POINTS * (config.output_size / 28.0)
        # The entry keeps its first layout (read by `from_cache`), so mer-bench versions that
        # share a cache folder read each other's entries.
        points_fallback = face.fallback in ("dataset_mean", "fixed")
        return {
            "flow": data.astype(np.float32),
            "points": points.astype(np.float32),
            "points_fallback": np.array(points_fallback),
            "fallback": np.array(face.fallback),
            "landmarks": (
                np.asarray(face.align, dtype=np.float32)
                if not points_fallback
                else np.zeros((0, 2), dtype=np.float32)
            ),
        }

    def cache_entry(
        self,
        frames: SampleFrames,
        config: PreprocessConfig,
        selection: ClipSelection | None,
        mean_landmarks: np.ndarray | None,
        second_pass: bool,
    ) -> tuple[str, str]:
        from mer_bench.data.preprocess.cache import ArrayCache
        from mer_bench.data.preprocess.pipeline import mean_hash, sample_identity

        parts: dict[str, Any] = {**sample_identity(frames), "config": config.hash()}
        if second_pass:
            parts["mean_landmarks"] = mean_hash(mean_landmarks)
        return "flow28", ArrayCache.key(parts)

    def from_cache(self, entry: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            "data": entry["flow"],
            "points": entry["points"],
            "points_fallback": entry["points_fallback"],
        }

    def from_flow_images(
        self, flows: np.ndarray, points: np.ndarray, points_fallback: np.ndarray
    ) -> dict[str, np.ndarray] | None:
        return {"data": flows, "points": points, "points_fallback": points_fallback}

    def example(self, n: int = 4, seed: int = 0) -> ViewArrays:
        data = np.random.default_rng(seed).uniform(0, 255, (n, 3, 28, 28)).astype(np.float32)
        return ViewArrays.in_memory(
            self,
            data,
            {
                "points": np.repeat(FALLBACK_POINTS[None], n, axis=0),
                "points_fallback": np.ones(n, dtype=bool),
            },
        )


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
        return {"face": config.face, "align": align, "flow": config.flow, "scaling": config.scaling}

    def compute(self, ctx: ViewContext) -> dict[str, np.ndarray]:
        """(3, size, size) float32 on the 0-255 min-max scale: the flow of the flow_size crops
        and its strain, area-averaged to `size` and scaled as flow28 is."""
        from mer_bench.data.preprocess.flow28 import to_flow28

        flow, strain = ctx.flow(self.flow_size)
        with ctx.timed("strain"):
            data = to_flow28(flow, strain, self.size, ctx.config.scaling)
        return {"data": data.astype(np.float32)}


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

    def compute(self, ctx: ViewContext) -> dict[str, np.ndarray]:
        f = ctx.frames
        return {
            "data": np.stack(
                [ctx.crop(p, self.size, self.color) for p in (f.onset_path, f.apex_path)]
            )
        }


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

    def frame_selection(self, frames: SampleFrames) -> ClipSelection:
        return select_clip(frames, self.length, self.span)

    def compute(self, ctx: ViewContext) -> dict[str, np.ndarray]:
        paths = self.frame_selection(ctx.frames).paths
        return {"data": np.stack([ctx.crop(p, self.size, self.color) for p in paths])}


@dataclass(frozen=True)
class LandmarksView(ViewConfig):
    """The 68 landmarks of each of the clip's T frames, in the aligned crop: (T, 68, 2) float32.

    Fitted on every frame (dlib's predictor inside the aligning detection's box) and mapped
    through the sample's single alignment transform, so the points move with the face's motion
    and share the pixel grid of a `clip` of the same size, length and span. Extra `fallback`
    (bool): without a box (dataset_mean) every frame gets the mean landmarks; with no landmarks
    at all (fixed) they are NaN.
    """

    name: ClassVar[str] = "landmarks"
    description: ClassVar[str] = "the 68 aligned landmarks of each frame of a clip"
    needs_face_box: ClassVar[bool] = True
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

    def frame_selection(self, frames: SampleFrames) -> ClipSelection:
        return select_clip(frames, self.length, self.span)

    def compute(self, ctx: ViewContext) -> dict[str, np.ndarray]:
        from mer_bench.data.preprocess import face as face_step

        matrix = ctx.matrix(self.size)
        marks = [ctx.frame_landmarks(p) for p in self.frame_selection(ctx.frames).paths]
        if all(m is not None for m in marks):
            data = np.stack([face_step.transform_points(m, matrix) for m in marks])
            fallback = False
        elif len(ctx.face.align):
            data = np.repeat(
                face_step.transform_points(ctx.face.align, matrix)[None], self.length, 0
            )
            fallback = True
        else:
            data = np.full((self.length, 68, 2), np.nan)
            fallback = True
        return {"data": data.astype(np.float32), "fallback": np.array(fallback)}

    def example(self, n: int = 4, seed: int = 0) -> ViewArrays:
        data = np.random.default_rng(seed).uniform(0, self.size, (n, *self.sample_shape()))
        return ViewArrays.in_memory(
            self, data.astype(np.float32), {"fallback": np.zeros(n, dtype=bool)}
        )


def make_view(name: str, **params: Any) -> ViewConfig:
    """A view configuration from its registered name and parameters (as a model card declares
    them); an unknown name is an UnknownNameError, bad parameters a ValueError."""
    from mer_bench.core.registry import VIEWS

    cls = VIEWS.get(name)
    try:
        return cls(**params)  # type: ignore[no-any-return]
    except TypeError as exc:
        raise ValueError(f"view {name!r}: {exc}") from exc


def default_view() -> ViewConfig:
    """The view a source gives when none is asked for (`DEFAULT_VIEW`, from the registry)."""
    return make_view(DEFAULT_VIEW)


def view_hash(view: ViewConfig, config: PreprocessConfig) -> str:
    """Stable hash of a view's arrays: its own parameters and the preprocessing parts it uses."""
    return stable_hash(
        {"view": view.hash(), "depends_on": view.depends_on(config), "pipeline": PIPELINE_VERSION}
    )
