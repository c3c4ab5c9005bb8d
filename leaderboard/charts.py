"""Altair charts of the board: ranking with intervals and chance lines, confusion, subjects, folds."""

from __future__ import annotations

import altair as alt
import pandas as pd

from mer_bench.metrics import PRIMARY
from mer_bench.metrics import metric as metric_info
from mer_bench_leaderboard.tables import BEST_ON_TEST


def ranking_chart(table: pd.DataFrame, chance: pd.DataFrame, reported: pd.DataFrame | None,
                  metric: str = PRIMARY) -> alt.LayerChart:
    """Each configuration's mean with its 95% interval; reported numbers as hollow diamonds;
    chance levels (fixed and best-on-test with K epochs) as vertical reference lines."""
    label = metric_info(metric).label
    runs = pd.DataFrame({
        "row": [f"#{r} {m} ({'best-on-test' if s == BEST_ON_TEST else s}, {e} ep)"
                for r, m, s, e in zip(table["rank"], table["model"], table["selection"],
                                      table["epochs"])],
        "score": table[f"{metric}_mean"], "low": table[f"{metric}_low"],
        "high": table[f"{metric}_high"],
        "kind": ["test-selected run" if s == BEST_ON_TEST else "fixed-selection run"
                 for s in table["selection"]],
    })
    rows = list(runs["row"])
    layers = []
    y = alt.Y("row:N", sort=rows + ([f"reported: {m}" for m in reported["method"]]
                                     if reported is not None else []), title=None,
              axis=alt.Axis(labelLimit=360, labelOverlap=False))
    x = alt.X("score:Q", scale=alt.Scale(domain=[0, 1]), title=label)
    color = alt.Color("kind:N", scale=alt.Scale(
        domain=["fixed-selection run", "test-selected run", "reported"],
        range=["#1f77b4", "#d62728", "#7f7f7f"]), title=None)
    base = alt.Chart(runs)
    layers.append(base.mark_rule().encode(y=y, x=alt.X("low:Q", title=label), x2="high:Q", color=color))
    layers.append(base.mark_point(filled=True, size=80).encode(
        y=y, x=x, color=color, tooltip=["row", "score", "low", "high"]))
    if reported is not None and len(reported):
        rep = pd.DataFrame({"row": [f"reported: {m}" for m in reported["method"]],
                            "score": reported[f"composite_{metric}"], "kind": "reported"})
        layers.append(alt.Chart(rep).mark_point(shape="diamond", size=80).encode(
            y=y, x=x, color=color, tooltip=["row", "score"]))
    if len(chance):
        lines = pd.DataFrame({"score": chance[metric], "reference": chance["reference"]})
        layers.append(alt.Chart(lines).mark_rule(strokeDash=[6, 4], color="black").encode(
            x="score:Q", tooltip=["reference", "score"]))
        layers.append(alt.Chart(lines).mark_text(align="left", dx=3, dy=-5, angle=0,
                                                 fontSize=10).encode(
            x="score:Q", y=alt.value(0), text="reference:N"))
    return alt.layer(*layers).properties(height=max(160, 30 * (len(rows) + (
        len(reported) if reported is not None else 0))))


def confusion_chart(confusion: pd.DataFrame) -> alt.LayerChart:
    """Heat map of counts with the numbers written in the cells."""
    long = confusion.reset_index(names="truth").melt(id_vars="truth", var_name="prediction",
                                                      value_name="count")
    base = alt.Chart(long).encode(y=alt.Y("truth:N", sort=list(confusion.index)),
                                  x=alt.X("prediction:N", sort=list(confusion.columns)))
    return (base.mark_rect().encode(color=alt.Color("count:Q", scale=alt.Scale(scheme="blues")))
            + base.mark_text(fontSize=14).encode(text="count:Q")).properties(width=320, height=240)


def subject_chart(subjects: pd.DataFrame) -> alt.Chart:
    """Per-subject accuracy, bar width-independent, with sample counts in the tooltip."""
    return alt.Chart(subjects).mark_bar().encode(
        x=alt.X("subject:N", sort=None, axis=alt.Axis(labelAngle=-60)),
        y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1])),
        tooltip=["subject", "n", "accuracy", "UF1", "UAR"]).properties(height=220)


def fold_time_chart(folds: pd.DataFrame) -> alt.Chart:
    """Seconds per fold."""
    return alt.Chart(folds).mark_bar().encode(
        x=alt.X("fold_key:N", sort=None, title="fold", axis=alt.Axis(labelAngle=-60)),
        y=alt.Y("seconds:Q"), tooltip=["fold_key", "seconds", "n_test", "epochs_trained",
                                       "selected_epoch"]).properties(height=200)
