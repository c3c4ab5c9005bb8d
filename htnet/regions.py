"""HTNet's input transform: four 14x14 facial-region windows of the flow, tiled into 28x28.

Around the left eye, right eye, left mouth corner and right mouth corner (the nose is unused) a
14x14 window is cut from the 28x28 flow image and the four windows are tiled like this:

    +-------------+---------------+
    | left eye    | left mouth    |    rows  0..13
    +-------------+---------------+
    | right eye   | right mouth   |    rows 14..27
    +-------------+---------------+
      cols 0..13    cols 14..27

"Left" is the side on the left of the image (`mer_bench.data.contract.POINT_NAMES`).

Two placements of the windows (`RegionTiling.placement`), same clamping, same tile layout:

- `"points"` (model `htnet`): points are (x, y); a window takes rows y-7..y+6 and columns
  x-7..x+6, so each window is centred on its point, and the tiles hold, in reading order, the
  windows of the left eye, left mouth corner, right eye, right mouth corner.
- `"reference-transposed"` (model `htnet-refcrop`): exactly what the public reference code cuts.
  It indexes rows by x (`flow[x-7:x+7, y-7:y+7]`: the points transposed) and tiles the windows
  of its points 0, 1 | 3, 4 (left eye, right eye | left mouth, right mouth). A window cut at the
  transposed point (x, y) covers the region centred at image row x, column y: the point mirrored
  in the main diagonal. On a typical face that mirror of the right eye lies near the left mouth
  corner and that of the left mouth corner near the right eye, so the reference's tiles still
  show left eye | left mouth over right eye | right mouth, but shifted off the points.

Both clamp every coordinate to [7, 21], so every window lies inside the image, then truncate it
to an integer: the reference clamps its float landmarks and then calls `astype(int)` (truncation
toward zero, which is the floor on [7, 21]).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mer_bench.data.contract import POINT_NAMES, InputArrays

#: Half side of a window; windows are 2 * HALF = 14 pixels square.
HALF = 7
#: Clamp range for window centres in 28x28 coordinates: windows never leave the image.
CENTRE_MIN, CENTRE_MAX = 7, 21
#: Window placements; see the module docstring.
POINTS, REFERENCE_TRANSPOSED = "points", "reference-transposed"
PLACEMENTS = (POINTS, REFERENCE_TRANSPOSED)
#: Per placement: which point's window fills each tile (top-left, top-right, bottom-left,
#: bottom-right), and which point coordinate (0 = x, 1 = y) indexes the window's rows.
TILE_POINTS = {
    POINTS: ("left_eye", "left_mouth", "right_eye", "right_mouth"),
    REFERENCE_TRANSPOSED: ("left_eye", "right_eye", "left_mouth", "right_mouth"),
}
ROW_COORDINATE = {POINTS: 1, REFERENCE_TRANSPOSED: 0}


def _check_placement(placement: str) -> None:
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown window placement {placement!r}; choose one of {PLACEMENTS}")


def window_centres(points: np.ndarray, placement: str = POINTS) -> np.ndarray:
    """Integer (x, y) centres (N, 4, 2) of the points feeding the tiles, in tile order, from
    (N, 5, 2) points: clamped to [CENTRE_MIN, CENTRE_MAX], then truncated."""
    _check_placement(placement)
    idx = [POINT_NAMES.index(name) for name in TILE_POINTS[placement]]
    chosen = np.asarray(points, dtype=np.float64)[:, idx, :]
    return np.floor(np.clip(chosen, CENTRE_MIN, CENTRE_MAX)).astype(np.int64)


def window_origins(points: np.ndarray, placement: str = POINTS) -> np.ndarray:
    """Top-left (row, col) pixel (N, 4, 2) of each tile's 14x14 window in the flow image."""
    centres = window_centres(points, placement)
    row = ROW_COORDINATE[placement]
    return np.stack([centres[..., row], centres[..., 1 - row]], axis=-1) - HALF


def tile_regions(flow: np.ndarray, points: np.ndarray, placement: str = POINTS) -> np.ndarray:
    """Tile the four region windows of each flow image: (N, C, 28, 28) -> float32 (N, C, 28, 28)."""
    flow = np.asarray(flow, dtype=np.float32)
    n, c, height, width = flow.shape
    if (height, width) != (28, 28):
        raise ValueError(f"region tiling expects 28x28 flow images, got {height}x{width}")
    origins = window_origins(points, placement)  # (N, 4, 2) as (row, col)
    offsets = np.arange(2 * HALF)  # (14,)
    rows = origins[:, :, 0, None] + offsets  # (N, 4, 14)
    cols = origins[:, :, 1, None] + offsets  # (N, 4, 14)
    # Advanced indexing around a channel slice puts the indexed axes first: (N, 4, 14, 14, C).
    windows = flow[np.arange(n)[:, None, None, None], :, rows[:, :, :, None], cols[:, :, None, :]]
    windows = windows.transpose(0, 1, 4, 2, 3)  # (N, 4, C, 14, 14)
    top = np.concatenate([windows[:, 0], windows[:, 1]], axis=-1)
    bottom = np.concatenate([windows[:, 2], windows[:, 3]], axis=-1)
    return np.ascontiguousarray(np.concatenate([top, bottom], axis=-2), dtype=np.float32)


@dataclass(frozen=True)
class RegionTiling:
    """HTNet's model input for a protocol's arrays: the tiled regions, raw 0-255 scale.

    `placement` says where the windows are cut (see the module docstring). Fallback points (no
    landmarks found) are used exactly as measured ones, as in the reference.
    """

    placement: str = POINTS

    def __post_init__(self) -> None:
        _check_placement(self.placement)

    def __call__(self, arrays: InputArrays) -> np.ndarray:
        return tile_regions(arrays.flow, arrays.points, self.placement)


#: `htnet`'s input transform (windows centred on the points).
prepare_inputs = RegionTiling(POINTS)
