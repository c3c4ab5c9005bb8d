"""Rich rendering shared by the CLI verbs: score tables and confusion matrices."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from mer_bench.results.metrics import metric, metric_names
from mer_bench.results.summary import RunSummary


def selection_label(selection: str | None) -> str:
    """The policy beside a score; one that reads test labels (as it declares) in red."""
    from mer_bench.results.ranking import reads_test_labels

    if selection and reads_test_labels(selection):
        return f"[bold red]{selection} (test-set selection)[/bold red]"
    return selection or "-"


def print_summary(summary: RunSummary, classes: tuple[str, ...], console: Console | None = None) -> None:
    """Composite and per-dataset UF1/UAR with the selection policy beside them, then confusion."""
    console = console or Console()
    title = f"{summary.model or 'predictions'} on {summary.protocol}"
    if summary.run_id:
        title += f"  (run {summary.run_id})"
    table = Table(title=title)
    names = metric_names()
    table.add_column("scope")
    for name in names:
        table.add_column(metric(name).label, justify="right")
    table.add_column("n", justify="right")
    table.add_column("selection")
    pooled = summary.report.pooled
    sel = selection_label(summary.selection)

    def cells(values: dict[str, float]) -> list[str]:
        return [f"{values[n]:.4f}" for n in names]

    table.add_row("composite", *cells(pooled.values), str(pooled.n), sel)
    for name, s in summary.report.per_dataset.items():
        table.add_row(name, *cells(s.values), str(s.n), sel)
    table.add_row("subject mean", *cells(summary.report.subject_mean), str(summary.n_subjects), sel)
    console.print(table)
    if pooled.absent_classes:
        absent = ", ".join(classes[i] for i in pooled.absent_classes)
        console.print(f"classes without truth samples (left out of UAR): {absent}")
    cm = Table(title="confusion (rows: truth, columns: prediction)")
    cm.add_column("")
    for c in classes:
        cm.add_column(c, justify="right")
    for c, row in zip(classes, pooled.confusion):
        cm.add_row(c, *(str(v) for v in row))
    console.print(cm)
