"""`mer-bench table`: what the leaderboard ranks, as a table for a paper (Markdown, LaTeX, CSV).

The rows are `mer_bench.results.ranking`'s (the board's): one per configuration on one source, honest
policies unless `--with-best-on-test`, UF1 and UAR as mean ± sd over seeds with the
subject-bootstrap 95% interval, per-dataset means; the published numbers of the protocol follow in
their own rows labelled "reported, <how chosen>" (beside real-data runs only), and a footnote
line states the rule each row used. LaTeX is a `tabular` with booktabs rules.
"""

from __future__ import annotations

from pathlib import Path

import typer

from mer_bench.core import registry
from mer_bench.cli import app
from mer_bench.cli.options import STORE_HELP, check_output_file, open_store, write_output
from mer_bench.core.paths import default_store_path
from mer_bench.core.errors import MerBenchError, UnknownNameError, UsageError

FORMATS = ("markdown", "latex", "csv")
#: Columns of text, aligned left (the rest are numbers).
TEXT_COLUMNS = ("origin", "model", "view", "selection", "seeds")
#: LaTeX's special characters and what stands for them in text.
LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
}


@app.command("table")
def table_command(
    protocol: str = typer.Option(..., "--protocol", "-p", help="Registered protocol to tabulate."),
    fmt: str = typer.Option("markdown", "--format", help="markdown | latex | csv"),
    source: str | None = typer.Option(
        None,
        "--source",
        help="Runs of this source only (default: the board's: real data when there is any).",
    ),
    with_test: bool = typer.Option(
        False, "--with-best-on-test", help="Also rank test-selected (best-on-test) runs, flagged."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write the table here (default: print it)."
    ),
    store_path: str | None = typer.Option(None, "--store", help=STORE_HELP),
    with_reference: bool = typer.Option(
        True,
        "--reference/--no-reference",
        help="Also show mer-bench's shipped reference runs "
        "(results/), marked, and what is not computed yet.",
    ),
) -> None:
    """The ranking of PROTOCOL as a paper table, every number recomputed from stored predictions."""
    if protocol not in registry.PROTOCOLS:
        registry.PROTOCOLS.get(protocol)  # exit 2 with suggestions
    if fmt not in FORMATS:
        raise UnknownNameError("table format", fmt, FORMATS)
    if out is not None:
        check_output_file(out, "-o")
    import pandas as pd

    from mer_bench.results import ranking, reference
    from mer_bench.results.store.database import sqlite_file

    location = store_path or default_store_path()
    own = sqlite_file(location)
    if with_reference and own is not None and not own.exists():
        # Nothing of the user's yet: the shipped runs alone (the missing database is not made).
        runs, predictions, where = pd.DataFrame(columns=ranking.RUN_COLUMNS), {}, str(location)
    else:
        with open_store(store_path, read_only=True) as store:
            runs, predictions = ranking.load(store, protocol)
            where = store.where
    if with_reference:
        shipped, shipped_predictions = reference.load_reference(protocol)
        runs, predictions = reference.with_reference(
            runs, predictions, shipped, shipped_predictions
        )
    if not len(runs):
        raise MerBenchError(f"no complete runs of protocol {protocol} in {where}")
    sources = sorted(set(runs["source"]))
    if source is None:
        source = ranking.default_source(runs)
    elif source not in sources:
        raise UsageError(
            f"--source {source}: no complete runs of {protocol} on it in {where} "
            f"(there are runs on: {', '.join(sources)})"
        )
    runs = runs[runs["source"] == source]
    data = str(runs["data"].iloc[0])
    card = registry.get_protocol(protocol).card
    if card.task == "au":  # multi-label: AU-F1 per configuration and per AU
        from mer_bench.results.au_table import RULE, au_table

        cells = au_table(runs, predictions, card.classes, include_test_selected=with_test)
        if not len(cells):
            raise MerBenchError(f"no configuration of {protocol} on {source} to rank")
        caption = (
            f"{protocol} on {ranking.source_label(source, data)}: scores recomputed from "
            "the stored predictions by mer-bench"
        )
        text = {"markdown": markdown, "latex": latex, "csv": csv}[fmt](cells, [RULE], caption)
        if out is None:
            typer.echo(text, nl=False)
        else:
            out.write_text(text)
            typer.echo(f"wrote {out}", err=True)
        return
    table = ranking.ranked(ranking.ranking(runs, predictions), include_test_selected=with_test)
    reported = None if data == "synthetic" else ranking.reported_table(protocol)
    shipped_runs = runs[runs["origin"] == ranking.REFERENCE]
    missing = reference.not_computed(protocol, source, shipped_runs) if with_reference else None
    if missing is not None and not with_test:
        missing = missing[missing["selection"] != ranking.BEST_ON_TEST]
    cells, rules = ranking.paper_table(table, reported, missing=missing)
    if not len(table):
        raise MerBenchError(
            f"no configuration of {protocol} on {source} to rank"
            + (
                ""
                if with_test
                else " under an honest policy (--with-best-on-test adds test-selected runs)"
            )
        )
    caption = (
        f"{protocol} on {ranking.source_label(source, data)}: mean ± sd over seeds; 95% "
        "interval from a bootstrap over held-out subjects; scores recomputed from the "
        "stored predictions by mer-bench"
    )
    others = [s for s in sources if s != source]
    if others:
        caption += f" (other sources in this database, never ranked together: {', '.join(others)})"
    text = {"markdown": markdown, "latex": latex, "csv": csv}[fmt](cells, rules, caption)
    if out is None:
        typer.echo(text, nl=False)
    else:
        write_output(out, text, "-o")
        typer.echo(f"wrote {out}", err=True)


def markdown(cells, rules: list[str], caption: str) -> str:
    """A pipe table, its caption above and one footnote line per rule below."""
    header = list(cells.columns)
    lines = [
        f"**{caption}**",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if c in TEXT_COLUMNS else "---:" for c in header) + "|",
    ]
    lines += [
        "| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |"
        for row in cells.itertuples(index=False)
    ]
    lines += [""] + [f"- {rule}" for rule in rules]
    return "\n".join(lines) + "\n"


def latex_escape(text: str) -> str:
    return "".join(LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def latex(cells, rules: list[str], caption: str) -> str:
    """A booktabs `tabular` (needs \\usepackage{booktabs}): header, the ranked rows, a rule, the
    reported rows; then the caption and one line per rule as footnote-size notes under it (for
    a `table` float: the notes wrap to the text width)."""
    spec = "".join("l" if c in TEXT_COLUMNS else "r" for c in cells.columns)
    lines = [
        r"% needs \usepackage{booktabs}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(latex_escape(c) for c in cells.columns) + r" \\",
        r"\midrule",
    ]
    reported_started = False
    for row in cells.itertuples(index=False):
        if str(row.selection).startswith("reported") and not reported_started:
            lines.append(r"\midrule")
            reported_started = True
        lines.append(" & ".join(latex_escape(v) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\par\smallskip", r"{\footnotesize\raggedright"]
    lines += [latex_escape(note) + r"\par" for note in [caption, *rules]]
    lines.append("}")
    return "\n".join(lines) + "\n"


def csv(cells, rules: list[str], caption: str) -> str:
    """The cells as CSV, with the rule of each row in a last column."""
    by_selection = {rule.split(":", 1)[0]: rule for rule in rules}
    table = cells.assign(rule=[by_selection.get(s, "") for s in cells["selection"]])
    return table.to_csv(index=False)
