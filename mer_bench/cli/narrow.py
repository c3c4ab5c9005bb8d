"""Plain-text tables that stay readable at any width: cells are cut with an ellipsis, never
wrapped a letter per line, and the least important columns are left out when even the cut
cells do not fit (the caller says which were left out).

Rich shrinks a table to the terminal by folding its cells, which turns `svm-hoof` into a
column of two-letter pieces at 80 columns. Here each column declares how far it may be cut
and how much it matters, the widths are chosen before Rich draws, and Rich only draws them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.table import Table

#: Characters between two columns (one space of padding either side of an invisible rule).
GAP = 2


@dataclass(frozen=True)
class Column:
    """One column: its header, how narrow an ellipsis may cut it (`shrink_to`; None: never cut)
    and its rank when columns must go (a higher `keep` stays longer)."""

    header: str
    keep: int
    shrink_to: int | None = None
    justify: str = "left"


@dataclass(frozen=True)
class Layout:
    """The columns kept (indices into the declared columns) and their widths; of those left
    out, the ones whose cells are all the same (`common`: header -> value, for a title) and
    the others (`left_out`: headers, for a note)."""

    kept: tuple[int, ...]
    widths: tuple[int, ...]
    left_out: tuple[str, ...]
    common: dict[str, str]


def fit(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> Layout:
    """Widths for `rows` in `width` characters: every cell whole when it fits; otherwise the
    cuttable columns give up characters (widest first) down to their `shrink_to`; when even
    that is too wide, columns go in order of `keep`, lowest first (at least one stays)."""
    natural = [
        max([len(col.header), *(len(row[i]) for row in rows)]) for i, col in enumerate(columns)
    ]
    floor = [
        natural[i]
        if col.shrink_to is None
        else min(natural[i], max(col.shrink_to, len(col.header)))
        for i, col in enumerate(columns)
    ]
    kept = list(range(len(columns)))

    def total(widths: Sequence[int]) -> int:
        return sum(widths[i] for i in kept) + GAP * (len(kept) - 1)

    while len(kept) > 1 and total(floor) > width:
        kept.remove(min(kept, key=lambda i: (columns[i].keep, -i)))
    widths = list(natural)
    excess = total(widths) - width
    while excess > 0:  # one character at a time from the widest column still above its floor
        cuttable = [i for i in kept if widths[i] > floor[i]]
        if not cuttable:
            break
        widest = max(cuttable, key=lambda i: (widths[i] - floor[i], widths[i]))
        widths[widest] -= 1
        excess -= 1
    gone = [i for i in range(len(columns)) if i not in kept]
    common = {
        columns[i].header: rows[0][i]
        for i in gone
        if rows and all(row[i] == rows[0][i] for row in rows)
    }
    left_out = tuple(columns[i].header for i in gone if columns[i].header not in common)
    return Layout(
        kept=tuple(kept), widths=tuple(widths[i] for i in kept), left_out=left_out, common=common
    )


def table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    layout: Layout,
    title: str | None = None,
) -> Table:
    """A Rich table of the laid-out columns: fixed widths, one line per row, ellipsis cuts."""
    out = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1),
        collapse_padding=True,
        title_justify="left",
    )
    for i, w in zip(layout.kept, layout.widths):
        out.add_column(
            columns[i].header,
            justify=columns[i].justify,  # type: ignore[arg-type]
            width=w,
            no_wrap=True,
            overflow="ellipsis",
        )
    for row in rows:
        out.add_row(*(row[i] for i in layout.kept))
    return out


def console() -> Console:
    """A console for these tables: the terminal's width, or `$COLUMNS` when set; a pipe with
    no `$COLUMNS` gets whole lines (a script reading them should not find names cut)."""
    piped = not sys.stdout.isatty() and not os.environ.get("COLUMNS", "").isdigit()
    return Console(highlight=False, width=100_000 if piped else None, soft_wrap=False)
