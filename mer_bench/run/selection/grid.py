"""A declared hyper-parameter grid: a few values of some `Recipe` fields, chosen per outer fold on
training subjects only by the `val-subjects` and `nested` policies.

`--grid lr=1e-4,5e-5 --grid batch_size=32,64` declares a grid of four points. Each value is
converted to the field's type (`int`, `float`, `str`) and checked by building the recipe, so a
mistyped field or an out-of-range value stops the run with one line before any training. The
grid is a policy option, so it is part of the run's identity. `epochs` is not a grid field: the
policies choose the epoch count themselves, up to the recipe's `epochs`.

Points are the product of the fields in sorted name order, each field's values in the declared
order; a point is a plain dict (`{"batch_size": 32, "lr": 0.0001}`), `{}` when there is no grid.
"""

from __future__ import annotations

import dataclasses
import itertools
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from mer_bench.core.cards import ModelSpec, Recipe
from mer_bench.core.errors import UsageError
from mer_bench.run.selection.base import SelectionPolicy

#: At most this many grid points: the grid is a small declared search, not a sweep.
MAX_POINTS = 32

#: Recipe fields a grid may not vary, and why.
NOT_GRID_FIELDS = {
    "epochs": "the policy chooses the epoch count (up to --epochs)",
    "betas": "a pair; set it on the model card",
}

Grid = dict[str, list[Any]]


def grid_fields() -> dict[str, type]:
    """Recipe fields a grid may vary, with the type their values are converted to."""
    hints = typing.get_type_hints(Recipe)
    return {
        f.name: hints[f.name] for f in dataclasses.fields(Recipe) if f.name not in NOT_GRID_FIELDS
    }


def _convert(field: str, kind: type, text: str) -> Any:
    try:
        if kind is int:
            value = float(text)
            if not value.is_integer():
                raise ValueError
            return int(value)
        return kind(text)
    except ValueError:
        raise UsageError(
            f"--grid {field}: {text!r} is not {'an' if kind is int else 'a'} {kind.__name__}"
        ) from None


def parse_grid(values: Iterable[str]) -> Grid:
    """`--grid FIELD=V1,V2` values (one per field) as {field: [typed values]}, checked."""
    grid: Grid = {}
    for value in values:
        field, sep, listed = value.partition("=")
        field = field.strip()
        if not sep or not field or not listed.strip():
            raise UsageError(f"--grid expects FIELD=VALUE[,VALUE...], got {value!r}")
        if field in grid:
            raise UsageError(f"--grid {field} is given twice: list its values once ({field}=A,B)")
        grid[field] = [item.strip() for item in listed.split(",")]
        if any(not item for item in grid[field]):
            raise UsageError(f"--grid {field}: empty value in {listed!r}")
    return check_grid(grid)


def check_grid(grid: Mapping[str, Sequence[Any]] | None, base: Recipe | None = None) -> Grid:
    """The grid with values of the fields' types; UsageError (exit 2) for an unknown or excluded
    field (with the closest names), a repeated or out-of-range value, or too many points. With
    `base`, every point is also checked as a change of that recipe."""
    fields = grid_fields()
    out: Grid = {}
    for field, values in (grid or {}).items():
        if field in NOT_GRID_FIELDS:
            raise UsageError(f"--grid {field}: not a grid field ({NOT_GRID_FIELDS[field]})")
        if field not in fields:
            raise UsageError.unknown("--grid recipe field", field, fields)
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise UsageError(f"--grid {field}: give a list of values, got {values!r}")
        kind = fields[field]
        typed = [
            _convert(field, kind, v)
            if isinstance(v, str) and kind is not str
            else _typed(field, kind, v)
            for v in values
        ]
        if len(set(typed)) != len(typed):
            raise UsageError(f"--grid {field}: a value is repeated in {typed}")
        out[field] = typed
    points = grid_points(out)
    if len(points) > MAX_POINTS:
        raise UsageError(
            f"--grid declares {len(points)} points; at most {MAX_POINTS} (each is "
            "trained for every fold)"
        )
    for point in points:
        try:
            (base or Recipe()).override(**point)
        except ValueError as exc:
            raise UsageError(f"--grid point {point}: {exc}") from None
    return out


def _typed(field: str, kind: type, value: Any) -> Any:
    """A value given in Python (not parsed from text) as the field's type, without surprises."""
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind is str and isinstance(value, str):
        return value
    raise UsageError(f"--grid {field}: {value!r} is not a {kind.__name__}")


def grid_points(grid: Mapping[str, Sequence[Any]] | None) -> list[dict[str, Any]]:
    """Every point of the grid (see the module docstring); `[{}]` without a grid."""
    names = sorted(grid or {})
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]


def point_recipe(recipe: Recipe, point: Mapping[str, Any]) -> Recipe:
    """`recipe` with the grid point's values."""
    return dataclasses.replace(recipe, **point)


class GridPolicy(SelectionPolicy):
    """A policy that may also choose among the points of a declared grid (`val-subjects`,
    `nested`): the grid is checked against the run's recipe before any training."""

    grid: Grid

    def check(
        self, spec: ModelSpec, recipe: Recipe, groups: np.ndarray, datasets: np.ndarray
    ) -> None:
        super().check(spec, recipe, groups, datasets)
        check_grid(self.grid, recipe)

    def points(self) -> list[dict[str, Any]]:
        """The grid's points in their declared order (`[{}]` without a grid)."""
        return grid_points(self.grid)
