"""Altair charts of the board: ranking with intervals and each row's chance, confusion, subjects,
chosen epochs, folds."""

from __future__ import annotations

import altair as alt
import pandas as pd

from mer_bench.results.metrics import PRIMARY
from mer_bench.results.metrics import metric as metric_info
from mer_bench.results.ranking import epochs_text


def row_labels(table: pd.DataFrame) -> list[str]:
    """ "#1 good-net (fixed, 20 ep) · flows": rank, model, rule, epochs and the source."""
    return [
        f"#{r} {m} ({s}, {epochs_text(e)} ep) · {src}"
        for r, m, s, e, src in zip(
            table["rank"], table["model"], table["selection"], table["epochs"], table["source"]
        )
    ]


def ranking_chart(
    table: pd.DataFrame, reported: pd.DataFrame | None, metric: str = PRIMARY
) -> alt.LayerChart:
    """Each configuration's mean with its 95% interval, and a black tick at the chance level of
    its own rule; reported numbers (real data only) as hollow diamonds."""
    label = metric_info(metric).label
    runs = pd.DataFrame(
        {
            "row": row_labels(table),
            "score": table[f"{metric}_mean"],
            "low": table[f"{metric}_low"],
            "high": table[f"{metric}_high"],
            "chance": table[f"{metric}_chance"],
            "kind": ["honest run" if honest else "test-selected run" for honest in table["honest"]],
        }
    )
    rows = list(runs["row"])
    rep_rows = [f"reported: {m}" for m in reported["method"]] if reported is not None else []
    layers = []
    y = alt.Y(
        "row:N", sort=rows + rep_rows, title=None, axis=alt.Axis(labelLimit=420, labelOverlap=False)
    )
    x = alt.X("score:Q", scale=alt.Scale(domain=[0, 1]), title=label)
    color = alt.Color(
        "kind:N",
        scale=alt.Scale(
            domain=["honest run", "test-selected run", "reported"],
            range=["#1f77b4", "#d62728", "#7f7f7f"],
        ),
        title=None,
    )
    base = alt.Chart(runs)
    layers.append(
        base.mark_rule().encode(y=y, x=alt.X("low:Q", title=label), x2="high:Q", color=color)
    )
    layers.append(
        base.mark_point(filled=True, size=80).encode(
            y=y, x=x, color=color, tooltip=["row", "score", "low", "high", "chance"]
        )
    )
    layers.append(
        base.mark_tick(color="black", thickness=2, size=18).encode(
            y=y, x=alt.X("chance:Q"), tooltip=[alt.Tooltip("chance:Q", title="chance of its rule")]
        )
    )
    if reported is not None and len(reported):
        rep = pd.DataFrame(
            {"row": rep_rows, "score": reported[f"composite_{metric}"], "kind": "reported"}
        )
        layers.append(
            alt.Chart(rep)
            .mark_point(shape="diamond", size=80)
            .encode(y=y, x=x, color=color, tooltip=["row", "score"])
        )
    return alt.layer(*layers).properties(height=max(160, 30 * (len(rows) + len(rep_rows))))


def confusion_chart(confusion: pd.DataFrame) -> alt.LayerChart:
    """Heat map of counts with the numbers written in the cells: white on dark cells, black on
    light ones, so every number is readable."""
    long = confusion.reset_index(names="truth").melt(
        id_vars="truth", var_name="prediction", value_name="count"
    )
    threshold = float(long["count"].max()) / 2 if len(long) else 0.0
    base = alt.Chart(long).encode(
        y=alt.Y("truth:N", sort=list(confusion.index)),
        x=alt.X("prediction:N", sort=list(confusion.columns)),
    )
    text = base.mark_text(fontSize=14).encode(
        text="count:Q",
        color=alt.condition(alt.datum.count > threshold, alt.value("white"), alt.value("black")),
    )
    return (
        base.mark_rect().encode(color=alt.Color("count:Q", scale=alt.Scale(scheme="blues"))) + text
    ).properties(width=320, height=240)


def subject_chart(subjects: pd.DataFrame) -> alt.Chart:
    """Per-subject accuracy, bar width-independent, with sample counts in the tooltip."""
    return (
        alt.Chart(subjects)
        .mark_bar()
        .encode(
            x=alt.X("subject:N", sort=None, axis=alt.Axis(labelAngle=-60)),
            y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1])),
            tooltip=["subject", "n", "accuracy", "UF1", "UAR"],
        )
        .properties(height=220)
    )


def epoch_histogram(chosen: pd.DataFrame) -> alt.Chart:
    """How many folds kept each epoch (binned when there are many distinct epochs)."""
    distinct = len(chosen)
    x = (
        alt.X("epoch:O", title="epoch kept")
        if distinct <= 40
        else alt.X("epoch:Q", bin=alt.Bin(maxbins=40), title="epoch kept")
    )
    return (
        alt.Chart(chosen)
        .mark_bar()
        .encode(x=x, y=alt.Y("sum(folds):Q", title="folds"), tooltip=["epoch", "folds"])
        .properties(height=200)
    )


def fold_time_chart(folds: pd.DataFrame) -> alt.Chart:
    """Seconds per fold."""
    return (
        alt.Chart(folds)
        .mark_bar()
        .encode(
            x=alt.X("fold_key:N", sort=None, title="fold", axis=alt.Axis(labelAngle=-60)),
            y=alt.Y("seconds:Q"),
            tooltip=["fold_key", "seconds", "n_test", "epochs_trained", "selected_epoch"],
        )
        .properties(height=200)
    )
