"""Train-time augmentations, registered under the `mer_bench.augmentations` entry-point group.

A recipe lists its augmentations (`Recipe.augment`: names, with options); the trainer applies
them in order to every training batch of a job, drawing from a generator seeded by the job's
seed (so a run stays reproducible per seed and fold), and never to rows it monitors, records or
predicts. An augmentation takes a float batch whose second axis is the channel and whose last
two are height and width (images (B, C, H, W), clips (B, C, T, H, W)) and returns one of the
same shape.

To add one: subclass `Augmentation` (its typed constructor keywords are its options), name it,
and register the class under `mer_bench.augmentations`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from mer_bench.core.errors import MerBenchError


class Augmentation(ABC):
    """One train-time transform of a batch (see the module docstring)."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    option_help: ClassVar[dict[str, str]] = {}

    @abstractmethod
    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The augmented batch (a new tensor; `x` is left as it is)."""


def _chosen(n: int, p: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return (torch.rand(n, generator=generator) < p).to(device)


class HorizontalFlip(Augmentation):
    """Mirror left and right, consistently with what the input holds.

    The image may be a grid of windows (`grid=[rows, cols]`), as region-based inputs are (HTNet
    tiles left eye | right eye over left mouth | right mouth: grid [2, 2], swap "cols"). A flip
    mirrors every window and moves the window of each left region to its right partner's place:
    `swap="cols"` swaps columns of windows (left regions in the left column), `swap="rows"`
    swaps rows (left regions in the top row, as in the reference's transposed crop). Channels
    that change sign when the face is mirrored (the horizontal flow u) are listed in `reflect`
    and reflected about `level` (127.5 for flows scaled per channel to 0-255: -u is 255 - u).
    """

    name = "hflip"
    description = "mirror left and right (windows and signed channels kept consistent)"
    option_help: ClassVar[dict[str, str]] = {
        "p": "share of rows flipped",
        "grid": "[rows, cols] of windows the image tiles",
        "swap": "cols | rows: how left regions trade places with their right partners",
        "reflect": "channels whose sign flips with the face (the flow's u)",
        "level": "the value reflect mirrors about (0 for signed data, 127.5 for 0-255 flows)",
    }

    def __init__(
        self,
        p: float = 0.5,
        grid: Sequence[int] = (1, 1),
        swap: str = "cols",
        reflect: Sequence[int] = (),
        level: float = 0.0,
    ) -> None:
        if not 0 <= p <= 1 or swap not in ("cols", "rows") or len(grid) != 2 or min(grid) < 1:
            raise MerBenchError(
                f"hflip: p in [0, 1], grid [rows, cols] and swap cols | rows, got "
                f"p={p}, grid={list(grid)}, swap={swap!r}"
            )
        self.p, self.grid, self.swap = float(p), (int(grid[0]), int(grid[1])), swap
        self.reflect, self.level = tuple(int(c) for c in reflect), float(level)

    def mirror(self, x: torch.Tensor) -> torch.Tensor:
        """Every row of `x` mirrored (what a chosen row becomes)."""
        rows, cols = self.grid
        h, w = x.shape[-2], x.shape[-1]
        if h % rows or w % cols:
            raise MerBenchError(f"hflip: a {h}x{w} input does not tile into a {rows}x{cols} grid")
        tiles = x.unflatten(-2, (rows, h // rows)).unflatten(-1, (cols, w // cols))
        tiles = tiles.flip(-1)  # each window mirrored ...
        tiles = tiles.flip(-4) if self.swap == "rows" else tiles.flip(-2)  # ... and moved
        out = tiles.flatten(-2).flatten(-3, -2)
        if self.reflect:
            out = out.clone()
            idx = list(self.reflect)
            out[:, idx] = 2 * self.level - out[:, idx]
        return out

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        chosen = _chosen(x.shape[0], self.p, generator, x.device)
        shape = (-1,) + (1,) * (x.dim() - 1)
        return torch.where(chosen.reshape(shape), self.mirror(x), x)


class SmallShift(Augmentation):
    """Translate each row by a whole number of pixels, at most `max_pixels` each way, filling
    with the edge's values (small misalignments of the face crop)."""

    name = "shift"
    description = "translate by up to max_pixels, edges repeated"
    option_help: ClassVar[dict[str, str]] = {
        "max_pixels": "the largest shift, in pixels",
        "p": "share of rows shifted",
    }

    def __init__(self, max_pixels: int = 2, p: float = 1.0) -> None:
        if max_pixels < 0 or not 0 <= p <= 1:
            raise MerBenchError(f"shift: max_pixels >= 0 and p in [0, 1], got {max_pixels}, {p}")
        self.max_pixels, self.p = int(max_pixels), float(p)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        m = self.max_pixels
        n = x.shape[0]
        offsets = torch.randint(-m, m + 1, (n, 2), generator=generator)
        offsets[~_chosen(n, self.p, generator, torch.device("cpu"))] = 0
        if m == 0:
            return x
        flat = x.reshape(n, -1, x.shape[-2], x.shape[-1])
        padded = F.pad(flat, (m, m, m, m), mode="replicate")
        h, w = x.shape[-2], x.shape[-1]
        out = torch.stack(
            [
                padded[i, :, m + dy : m + dy + h, m + dx : m + dx + w]
                for i, (dy, dx) in enumerate(offsets.tolist())
            ]
        )
        return out.reshape(x.shape)


class Augmenter:
    """A recipe's augmentations for one job, with the job's own generator."""

    def __init__(self, steps: Sequence[Augmentation], seed: int) -> None:
        self.steps = list(steps)
        self.generator = torch.Generator().manual_seed(int(seed) + 0x5EED)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for step in self.steps:
            x = step(x, self.generator)
        return x


def make_augmenter(augments: Sequence[Any], seed: int) -> Augmenter | None:
    """The recipe's augmentations built from the registry (None when there are none)."""
    if not augments:
        return None
    from mer_bench.core.registry import AUGMENTATIONS

    steps = [AUGMENTATIONS.create(a.name, **a.kwargs()) for a in augments]
    return Augmenter(steps, seed)
