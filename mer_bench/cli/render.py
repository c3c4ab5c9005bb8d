"""Rich rendering shared by the CLI verbs: score tables and confusion matrices."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from mer_bench.results.metrics import AU_METRICS, metric, metric_names
from mer_bench.results.summary import RunSummary


def selection_label(selection: str | None) -> str:
    """The policy beside a score; one that reads test labels (as it declares) in red."""
    from mer_bench.results.ranking import reads_test_labels

    if selection and reads_test_labels(selection):
        return f"[bold red]{selection} (test-set selection)[/bold red]"
    return selection or "-"


def print_summary(
    summary: RunSummary, classes: tuple[str, ...], console: Console | None = None
) -> None:
    """Composite and per-dataset UF1/UAR with the selection policy beside them, then confusion
    (AU tasks: AU-F1 / AU-AUC, then per-AU F1 bars)."""
    console = console or Console()
    if "au_f1" in summary.report.pooled.values:
        print_au_summary(summary, classes, console)
        return
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


def bar(value: float | None, width: int = 20) -> str:
    """A text bar of a score in [0, 1] (`-` where it is undefined)."""
    if value is None:
        return "-"
    filled = round(max(0.0, min(1.0, value)) * width)
    return "#" * filled + "." * (width - filled)


def print_au_summary(summary: RunSummary, aus: tuple[str, ...], console: Console) -> None:
    """An AU task's scores: AU-F1 and AU-AUC per scope, then F1, recall and counts per AU."""
    title = f"{summary.model or 'predictions'} on {summary.protocol}"
    if summary.run_id:
        title += f"  (run {summary.run_id})"
    table = Table(title=title)
    table.add_column("scope")
    for label in AU_METRICS.values():
        table.add_column(label, justify="right")
    table.add_column("n", justify="right")
    table.add_column("selection")
    sel = selection_label(summary.selection)

    def cells(values: dict[str, float]) -> list[str]:
        return [f"{values.get(n, float('nan')):.4f}" for n in AU_METRICS]

    pooled = summary.report.pooled
    table.add_row("pooled", *cells(pooled.values), str(pooled.n), sel)
    for name, s in summary.report.per_dataset.items():
        table.add_row(name, *cells(s.values), str(s.n), sel)
    table.add_row("subject mean", *cells(summary.report.subject_mean), str(summary.n_subjects), sel)
    console.print(table)
    per_au = Table(title="per AU (pooled over folds; present = sigmoid > 0.5)")
    for column in ("AU", "F1", "", "recall", "TP", "FP", "FN", "TN"):
        per_au.add_column(column, justify="left" if column in ("AU", "") else "right")
    for name, f1, recall, counts in zip(
        aus, pooled.f1_per_class, pooled.recall_per_class, pooled.confusion
    ):
        per_au.add_row(
            name,
            "-" if f1 is None else f"{f1:.4f}",
            bar(f1),
            "-" if recall is None else f"{recall:.4f}",
            *(str(c) for c in counts),
        )
    console.print(per_au)
    if pooled.absent_classes:
        absent = ", ".join(aus[i] for i in pooled.absent_classes)
        console.print(f"AUs neither present nor predicted (left out of AU-F1): {absent}")
