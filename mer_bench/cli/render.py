"""Rich rendering shared by the CLI verbs: score tables and confusion matrices."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from mer_bench.summary import RunSummary


def selection_label(selection: str | None) -> str:
    if selection == "best-on-test":
        return "[bold red]best-on-test (test-set selection)[/bold red]"
    return selection or "-"


def print_summary(summary: RunSummary, classes: tuple[str, ...], console: Console | None = None) -> None:
    """Composite and per-dataset UF1/UAR with the selection policy beside them, then confusion."""
    console = console or Console()
    title = f"{summary.model or 'predictions'} on {summary.protocol}"
    if summary.run_id:
        title += f"  (run {summary.run_id})"
    table = Table(title=title)
    for col in ("scope", "UF1", "UAR", "n", "selection"):
        table.add_column(col, justify="right" if col in ("UF1", "UAR", "n") else "left")
    pooled = summary.report.pooled
    sel = selection_label(summary.selection)
    table.add_row("composite", f"{pooled.uf1:.4f}", f"{pooled.uar:.4f}", str(pooled.n), sel)
    for name, s in summary.report.per_dataset.items():
        table.add_row(name, f"{s.uf1:.4f}", f"{s.uar:.4f}", str(s.n), sel)
    table.add_row("subject mean", f"{summary.report.subject_mean_uf1:.4f}",
                  f"{summary.report.subject_mean_uar:.4f}", str(summary.n_subjects), sel)
    console.print(table)
    if pooled.absent_classes:
        names = ", ".join(classes[i] for i in pooled.absent_classes)
        console.print(f"classes without truth samples (left out of UAR): {names}")
    cm = Table(title="confusion (rows: truth, columns: prediction)")
    cm.add_column("")
    for c in classes:
        cm.add_column(c, justify="right")
    for c, row in zip(classes, pooled.confusion):
        cm.add_row(c, *(str(v) for v in row))
    console.print(cm)
