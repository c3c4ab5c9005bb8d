"""Every table of the board as a pure function of runs and predictions (no Streamlit here).

What is ranked, and how (configurations, seeds, intervals, chance of each rule, sources kept
apart, honest policies by default), is `mer_bench.results.ranking`, shared with `mer-bench table`; this
module turns it into the text tables the page shows, and adds the per-run tables of the detail
and compare views.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mer_bench.core.errors import MerBenchError
from mer_bench.results.metrics import metric, metric_names, metric_values, score
from mer_bench.results.ranking import (
    BEST_ON_TEST,
    IMPORTED,
    NOT_COMPUTED,
    REFERENCE,
    REPORTED_MARK,
    REPORTED_SELECTION,  # noqa: F401
    TEST_SELECTED_MARK,
    aligned,
    chance_table,
    dataset_columns,
    epochs_text,
    interval,
    leakage_gaps,
    params_text,
    policies_side_by_side,
    ranked,
    ranking,
    reported_table,
    run_scores,
    selection_text,
    with_spread,
)
from mer_bench.results.stats import paired_difference, subject_confusions

#: What an empty cell shows on the page (a lone "-" would be drawn as a list bullet).
EMPTY = "–"


def _page(table: pd.DataFrame) -> pd.DataFrame:
    """A text table as the page shows it: empty cells as EMPTY."""
    return table.replace({"-": EMPTY, "": EMPTY})


def ranking_display(table: pd.DataFrame) -> pd.DataFrame:
    """The ranking as text for the page: mean ± sd, 95% CI, the chance of each row's rule,
    per-dataset means, flagged selection, view, epochs and parameters ("-" where a model has
    none: an estimator), seed ids."""
    if not len(table):
        return pd.DataFrame()
    out = pd.DataFrame(
        {
            "rank": table["rank"],
            "model": table["model"],
            "view": table["view"],
            "selection": [selection_text(s) for s in table["selection"]],
            "epochs": [epochs_text(e) for e in table["epochs"]],
            "seed ids": table["seeds"],
        }
    )
    for name in metric_names():
        label = metric(name).label
        out[label] = [
            with_spread(m, s, n)
            for m, s, n in zip(table[f"{name}_mean"], table[f"{name}_sd"], table["n_seeds"])
        ]
        out[f"{label} 95% CI"] = [
            interval(lo, hi) for lo, hi in zip(table[f"{name}_low"], table[f"{name}_high"])
        ]
    out["chance UF1 (its rule)"] = [f"{v:.4f}" for v in table["uf1_chance"]]
    for col in dataset_columns(table):
        out[col] = [f"{v:.4f}" for v in table[col]]
    out["params"] = [params_text(p) for p in table["params"]]
    out["source"] = table["source"]
    out["date"] = table["date"]
    if "origin" in table and table["origin"].isin([REFERENCE, IMPORTED]).any():
        # Shipped and imported runs are marked where the eye lands first, beside the rank.
        out.insert(1, "origin", table["origin"].fillna(""))
    return _page(out).set_index("rank").reset_index()


def not_computed_display(missing: pd.DataFrame) -> pd.DataFrame:
    """Planned reference runs without a result: model, rule, seeds and the command."""
    return _page(
        pd.DataFrame(
            {
                "model": missing["model"],
                "selection": [selection_text(s) for s in missing["selection"]],
                "seeds": missing["seeds"],
                "status": NOT_COMPUTED,
                "command": missing["command"],
            }
        )
    )


def policies_display(side: pd.DataFrame) -> pd.DataFrame:
    """Policies side by side as text: per model, each policy's score next to its rule's chance."""
    if not len(side):
        return pd.DataFrame()
    out = pd.DataFrame(
        {
            "model": side["model"],
            "view": side["view"],
            "epochs": [epochs_text(e) for e in side["epochs"]],
            "selection": [selection_text(s) for s in side["selection"]],
            "seed ids": side["seed ids"],
        }
    )
    for name in metric_names():
        label = metric(name).label
        out[label] = side[label].map("{:.4f}".format)
        out[f"{label} chance of its rule"] = side[f"{label} chance"].map("{:.4f}".format)
        out[f"{label} above chance"] = side[f"{label} above chance"].map("{:+.4f}".format)
    if "UF1 leak" in side.columns:
        out["UF1 leak (vs best honest)"] = [
            ("-" if pd.isna(v) else f"{v:+.4f}") for v in side["UF1 leak"]
        ]
    out["chance rule"] = side["chance rule"]
    return _page(out).set_index("model")


def chance_display(chance: pd.DataFrame) -> pd.DataFrame:
    if not len(chance):
        return pd.DataFrame()
    names = metric_names()
    columns = ["K", *names, *(f"{n}_sd" for n in names), "repeats", "rows"]
    labels = {
        **{n: metric(n).label for n in names},
        **{f"{n}_sd": f"{metric(n).label} sd" for n in names},
        "rows": "used by",
    }
    return chance.set_index("reference")[columns].rename(columns=labels)


def reported_display(table: pd.DataFrame) -> pd.DataFrame:
    """Reported rows, each labelled as reported and with how its epoch was chosen."""
    out = pd.DataFrame(
        {
            "method": table["method"],
            "kind": REPORTED_MARK,
            "UF1": table["composite_uf1"].map("{:.4f}".format),
            "UAR": table["composite_uar"].map("{:.4f}".format),
        }
    )
    for col in table.columns:
        if col.endswith("_uf1") or col.endswith("_uar"):
            if not col.startswith("composite"):
                dataset, name = col.rsplit("_", 1)
                out[f"{dataset} {name.upper()}"] = table[col].map("{:.4f}".format)
    out["selection"] = [REPORTED_SELECTION.get(s, s) for s in table["selection"]]
    out["source"] = table["source"]
    return out.set_index("method")


def rejected_display(
    problems: Mapping[str, str], runs: pd.DataFrame, unranked: pd.DataFrame
) -> pd.DataFrame:
    """Runs that are stored but not ranked, each with its reason: complete runs that cannot be
    scored, and runs that are not complete (interrupted, failed, still running, process gone)."""
    rows = []
    by_id = runs.set_index("run_id") if len(runs) else None
    for run_id, reason in problems.items():
        r = by_id.loc[run_id]
        rows.append(
            {
                "run": run_id,
                "model": r["model"],
                "source": r["source"],
                "selection": selection_text(r["selection"]),
                "status": r["status"],
                "why not ranked": reason,
            }
        )
    for _, r in unranked.iterrows():
        rows.append(
            {
                "run": r["run_id"],
                "model": r["model"],
                "source": r["source"],
                "selection": selection_text(r["selection"]),
                "status": r["status"],
                "why not ranked": f"incomplete: {r['folds']} folds stored",
            }
        )
    return _page(
        pd.DataFrame(
            rows, columns=["run", "model", "source", "selection", "status", "why not ranked"]
        )
    ).set_index("run")


def compare_runs(
    a: pd.DataFrame, b: pd.DataFrame, num_classes: int, n_resamples: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """B minus A: difference, paired bootstrap 95% CI and p-values (bootstrap, permutation)."""
    if not aligned([a, b]):
        raise MerBenchError(
            "the two runs do not cover the same samples with the same labels: "
            "a paired comparison needs both"
        )
    diff = paired_difference(
        a["label"].to_numpy(),
        a["pred"].to_numpy(),
        b["pred"].to_numpy(),
        a["group"].to_numpy(),
        num_classes,
        n_resamples,
        seed,
    )
    return pd.DataFrame(
        [
            {
                "metric": d.metric.upper(),
                "A": d.a,
                "B": d.b,
                "B - A": d.difference,
                "95% CI low": d.low,
                "95% CI high": d.high,
                "p (paired bootstrap)": d.p_bootstrap,
                "p (permutation)": d.p_permutation,
                "subjects": d.n_subjects,
            }
            for d in diff.values()
        ]
    ).set_index("metric")


def confusion_frame(predictions: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """Confusion counts: rows truth, columns prediction, labelled by class name."""
    cm = subject_confusions(
        predictions["label"].to_numpy(),
        predictions["pred"].to_numpy(),
        np.zeros(len(predictions), dtype=int),
        len(classes),
        [0],
    )[0]
    return pd.DataFrame(
        cm, index=[f"true {c}" for c in classes], columns=[f"pred {c}" for c in classes]
    )


def class_table(predictions: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """Per-class F1 and recall (None where the metrics' rule leaves a class out) and support."""
    s = score(predictions["label"].to_numpy(), predictions["pred"].to_numpy(), len(classes), "cpu")
    support = np.bincount(predictions["label"].to_numpy(), minlength=len(classes))
    return pd.DataFrame(
        {"F1": s.f1_per_class, "recall": s.recall_per_class, "support": support},
        index=list(classes),
    )


def subject_table(predictions: pd.DataFrame, num_classes: int) -> pd.DataFrame:
    """Per held-out subject: samples, accuracy, UF1 and UAR of its own predictions."""
    order = list(dict.fromkeys(predictions["group"]))
    cms = subject_confusions(
        predictions["label"].to_numpy(),
        predictions["pred"].to_numpy(),
        predictions["group"].to_numpy(),
        num_classes,
        order,
    )
    n = cms.sum(axis=(1, 2))
    correct = np.trace(cms, axis1=1, axis2=2)
    values = metric_values(cms)
    return pd.DataFrame(
        {
            "subject": order,
            "n": n,
            "accuracy": correct / np.maximum(n, 1),
            **{metric(name).label: values[name] for name in metric_names()},
        }
    )


def chosen_epochs(folds: pd.DataFrame) -> pd.DataFrame:
    """How many folds kept each epoch (`selected_epoch` of the folds table); empty for runs
    that choose no epoch (estimators)."""
    epochs = pd.to_numeric(folds["selected_epoch"], errors="coerce").dropna().astype(int)
    counts = epochs.value_counts().sort_index()
    return pd.DataFrame({"epoch": counts.index.astype(int), "folds": counts.to_numpy()})


def fold_choices(folds: pd.DataFrame) -> pd.DataFrame:
    """Per fold: held-out subject, the epoch kept, and what the policy recorded about its choice."""

    def text(choice: Any) -> str:
        if not choice:
            return ""
        if isinstance(choice, dict):
            return "; ".join(f"{k}: {_short(v)}" for k, v in choice.items())
        return _short(choice)

    return _page(
        pd.DataFrame(
            {
                "fold": folds["fold_key"],
                "epoch kept": [epochs_text(e) for e in folds["selected_epoch"]],
                "of epochs trained": [epochs_text(e) for e in folds["epochs_trained"]],
                "what the policy recorded": [text(c) for c in folds["selection"]],
            }
        )
    ).set_index("fold")


def provenance_table(record: Mapping[str, Any], fields: Sequence[str]) -> pd.DataFrame:
    """The run's provenance as rows of readable text: nested records flattened to dotted keys,
    lists joined (long ones cut with their length), never a dictionary's repr."""
    rows: dict[str, str] = {k: _short(record[k]) for k in fields}
    for key, value in _flatten(record.get("provenance") or {}, "provenance"):
        rows[key] = value
    return _page(pd.DataFrame({"value": list(rows.values())}, index=list(rows)))


def _flatten(value: Any, prefix: str) -> list[tuple[str, str]]:
    if isinstance(value, Mapping):
        out = []
        for k, v in value.items():
            out += _flatten(v, f"{prefix}.{k}")
        return out or [(prefix, "-")]
    return [(prefix, _short(value))]


def _short(value: Any, limit: int = 6) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        items = [_short(v) for v in value[:limit]]
        more = f" … ({len(value)} in all)" if len(value) > limit else ""
        return ", ".join(items) + more if items else "-"
    if isinstance(value, Mapping):
        return json.dumps(value, default=str)
    return str(value)
