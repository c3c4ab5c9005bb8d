"""HTNet's input transform: four 14x14 facial-region windows of the flow, tiled into 28x28.

Around the left eye, right eye, left mouth corner and right mouth corner (the nose is unused) a
14x14 window is cut from the 28x28 flow image and the four windows are tiled like this:

    +-------------+---------------+
    | left eye    | left mouth    |    rows  0..13
    +-------------+---------------+
    | right eye   | right mouth   |    rows 14..27
    +-------------+---------------+
      cols 0..13    cols 14..27

"Left" is the side on the left of the image (`mer_bench.data.POINT_NAMES`).

Indexing choice: points are (x, y); a window takes rows y-7..y+6 and columns x-7..x+6, i.e.
rows are indexed by y. The public reference code indexes rows by x (it transposes the points);
with typical landmarks its windows still cover the intended regions, but shifted. We index
correctly. Coordinates are clamped to [7, 21] so every window lies inside the image, then
truncated to integers (the reference truncates its landmark coordinates with `int()`).
"""

from __future__ import annotations

import numpy as np

from mer_bench.data import POINT_NAMES, InputArrays

#: Half side of a window; windows are 2 * HALF = 14 pixels square.
HALF = 7
#: Clamp range for window centres in 28x28 coordinates: windows never leave the image.
CENTRE_MIN, CENTRE_MAX = 7, 21
#: Which points feed the tiles, in tile order (top-left, top-right, bottom-left, bottom-right).
TILE_POINTS = ("left_eye", "left_mouth", "right_eye", "right_mouth")


def window_centres(points: np.ndarray) -> np.ndarray:
    """Integer (x, y) window centres (N, 4, 2) in TILE_POINTS order from (N, 5, 2) points."""
    idx = [POINT_NAMES.index(name) for name in TILE_POINTS]
    chosen = np.asarray(points, dtype=np.float64)[:, idx, :]
    return np.floor(np.clip(chosen, CENTRE_MIN, CENTRE_MAX)).astype(np.int64)


def tile_regions(flow: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Tile the four region windows of each flow image: (N, C, 28, 28) -> float32 (N, C, 28, 28)."""
    flow = np.asarray(flow, dtype=np.float32)
    n, c, height, width = flow.shape
    if (height, width) != (28, 28):
        raise ValueError(f"region tiling expects 28x28 flow images, got {height}x{width}")
    centres = window_centres(points)                                     # (N, 4, 2) as (x, y)
    offsets = np.arange(-HALF, HALF)                                     # (14,)
    rows = centres[:, :, 1, None] + offsets                              # (N, 4, 14), from y
    cols = centres[:, :, 0, None] + offsets                              # (N, 4, 14), from x
    # Advanced indexing around a channel slice puts the indexed axes first: (N, 4, 14, 14, C).
    windows = flow[np.arange(n)[:, None, None, None], :, rows[:, :, :, None], cols[:, :, None, :]]
    windows = windows.transpose(0, 1, 4, 2, 3)                           # (N, 4, C, 14, 14)
    top = np.concatenate([windows[:, 0], windows[:, 1]], axis=-1)       # left eye | left mouth
    bottom = np.concatenate([windows[:, 2], windows[:, 3]], axis=-1)    # right eye | right mouth
    return np.ascontiguousarray(np.concatenate([top, bottom], axis=-2), dtype=np.float32)


def prepare_inputs(arrays: InputArrays) -> np.ndarray:
    """HTNet's model input for a protocol's arrays: the tiled regions, raw 0-255 scale.

    Fallback points (no landmarks found) are used exactly as measured ones, as in the reference.
    """
    return tile_regions(arrays.flow, arrays.points)
