"""How `mer-bench show` draws a run's selection: a text histogram of the chosen epochs and, per
fold, the validation (or mean inner) scores behind the choice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

BLOCKS = "▁▂▃▄▅▆▇█"
#: Widest bar of the histogram, and most epochs drawn one per character in a score curve.
BAR_WIDTH = 30
CURVE_WIDTH = 40
#: Beyond this many distinct chosen epochs the histogram groups them into ranges.
MAX_ROWS = 12


def epoch_histogram(chosen: Sequence[int], maximum: int | None = None) -> list[str]:
    """Lines of a histogram of chosen epochs: one row per epoch (or per range of epochs when
    there are many), a bar of '█' scaled to the most frequent, and the count."""
    if not chosen:
        return []
    values = sorted(chosen)
    top = max(maximum or 0, values[-1])
    if len(set(values)) <= MAX_ROWS:
        bins = [(e, e) for e in sorted(set(values))]
    else:
        width = -(-top // MAX_ROWS)
        bins = [(lo, min(lo + width - 1, top)) for lo in range(1, top + 1, width)]
    counts = [sum(lo <= v <= hi for v in values) for lo, hi in bins]
    labels = [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in bins]
    pad, most = max(len(s) for s in labels), max(counts)
    return [
        f"{label:>{pad}} | {'█' * max(1, round(BAR_WIDTH * n / most)) if n else '':<{BAR_WIDTH}} {n}"
        for label, n in zip(labels, counts)
    ]


def sparkline(scores: Sequence[float], width: int = CURVE_WIDTH) -> str:
    """Per-epoch scores as block characters from the lowest (▁) to the highest (█); more than
    `width` epochs are averaged into `width` columns."""
    values = [float(s) for s in scores if s == s]
    if not values:
        return ""
    if len(values) > width:
        step = len(values) / width
        values = [
            sum(chunk) / len(chunk)
            for chunk in (
                values[int(i * step) : max(int((i + 1) * step), int(i * step) + 1)]
                for i in range(width)
            )
        ]
    low, high = min(values), max(values)
    span = high - low or 1.0
    return "".join(
        BLOCKS[min(len(BLOCKS) - 1, int((v - low) / span * len(BLOCKS)))] for v in values
    )


def _point_text(point: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (point or {}).items()) or "-"


def fold_choice_rows(folds: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per fold: chosen epoch and grid point, the score at that epoch, the score after the last
    epoch, how many epochs were scored, what validated, and the curve of the chosen point."""
    rows = []
    for fold in folds:
        record = fold.get("selection") or {}
        scores = record.get("scores")
        if not scores:
            continue
        points = record.get("grid_points") or [{}]
        point = record.get("grid_point") or {}
        curve = scores[points.index(point)] if point in points else scores[0]
        epoch = record.get("chosen_epoch") or fold.get("selected_epoch")
        if "val_subjects" in record:
            on = f"{len(record['val_subjects'])} validation subjects"
        else:
            on = f"{record.get('inner_folds', '?')} inner folds"
        rows.append(
            {
                "fold": fold["fold"],
                "epoch": epoch,
                "grid_point": point,
                "score": curve[epoch - 1] if epoch and epoch <= len(curve) else None,
                "last": curve[-1],
                "epochs": len(curve),
                "on": on,
                "curve": sparkline(curve),
            }
        )
    return rows


def options_text(options: dict[str, Any] | None) -> str:
    """A policy's options on one line: `inner_folds 5, grid lr=0.0001,5e-05`."""
    parts = []
    for name, value in sorted((options or {}).items()):
        if name == "grid":
            value = (
                "; ".join(f"{k}={','.join(map(str, v))}" for k, v in sorted(value.items()))
                or "none"
            )
        parts.append(f"{name} {value}")
    return ", ".join(parts)


def print_selection(
    selection: str,
    folds: Sequence[dict[str, Any]],
    maximum: int | None,
    console: Console,
    options: dict[str, Any] | None = None,
) -> None:
    """The chosen-epoch histogram and the per-fold score table of a run (nothing for `fixed`)."""
    chosen = [f["selected_epoch"] for f in folds if f.get("selected_epoch") is not None]
    if not chosen or selection == "fixed":
        return
    if options:
        console.print(f"selection {selection}: {options_text(options)}", highlight=False)
    console.print(f"chosen epochs ({len(chosen)} folds, {selection}, at most {maximum}):")
    for line in epoch_histogram(chosen, maximum):
        console.print("  " + line, highlight=False)
    rows = fold_choice_rows(folds)
    if not rows:
        return
    metric = ((folds[0].get("selection") or {}).get("metric") or "uf1").upper()
    scored = (
        "validation" if "validation" in str(folds[0]["selection"].get("rule")) else "mean inner"
    )
    table = Table(
        title=f"what each fold chose: {scored} {metric} per epoch (curve: chosen grid "
        "point, low ▁ to high █)"
    )
    for col, justify in (
        ("fold", "left"),
        ("epoch", "right"),
        ("grid point", "left"),
        (f"{metric} there", "right"),
        (f"{metric} at last", "right"),
        ("scored on", "left"),
        ("curve", "left"),
    ):
        table.add_column(col, justify=justify, no_wrap=col == "curve")
    for r in rows:
        table.add_row(
            str(r["fold"]),
            str(r["epoch"]),
            _point_text(r["grid_point"]),
            "-" if r["score"] is None else f"{r['score']:.4f}",
            f"{r['last']:.4f}",
            r["on"],
            r["curve"],
        )
    console.print(table)
