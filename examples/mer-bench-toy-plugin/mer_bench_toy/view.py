"""The `apex-difference` view: the aligned apex crop minus the aligned onset crop, grey.

A view computes itself from the aligned sample (`ViewContext`: the frames, the face, the one
alignment transform, flow and landmarks computed lazily); mer-bench's pipeline asks it to and
caches what it returns, keyed by its parameters and what it declares it depends on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mer_bench.data.preprocess.config import PreprocessConfig
from mer_bench.data.preprocess.views import ViewConfig


@dataclass(frozen=True)
class ApexDifference(ViewConfig):
    """(1, size, size) float32: apex minus onset grey levels, in [-255, 255]."""

    name: ClassVar[str] = "apex-difference"
    description: ClassVar[str] = "aligned apex minus aligned onset, grey (1, size, size)"
    dtype: ClassVar[str] = "float32"
    size: int = 32

    def __post_init__(self) -> None:
        if not 8 <= self.size <= 256:
            raise ValueError(f"size must be within 8..256 pixels, got {self.size}")

    def channels(self) -> int:
        return 1

    def sample_shape(self) -> tuple[int, ...]:
        return (1, self.size, self.size)

    def depends_on(self, config: PreprocessConfig) -> dict[str, Any]:
        # the face found and the alignment at this size: nothing of the flow
        return {"face": config.face, "align": dataclasses.replace(config.align, size=self.size)}

    def compute(self, ctx: Any) -> dict[str, np.ndarray]:
        onset, apex = (
            ctx.crop(path, self.size, "grey").astype(np.float32)
            for path in (ctx.frames.onset_path, ctx.frames.apex_path)
        )
        return {"data": apex - onset}
