"""Every table of the board as a pure function of runs and predictions (no Streamlit here).

Scores come from the stored predictions only. A ranking row is one configuration (same model,
protocol, source, selection and recipe); its seeds are aggregated as mean ± sd, and its interval
is a bootstrap over subjects of that seed mean. Reported paper numbers and chance levels are
separate tables, never rows of the ranking.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources

import numpy as np
import pandas as pd

from mer_bench.chance import chance_level
from mer_bench.errors import MerBenchError
from mer_bench.metrics import metric, metric_names, metric_values, score
from mer_bench.stats import bootstrap_ci, paired_difference, seed_spread, subject_confusions

BEST_ON_TEST = "best-on-test"
TEST_SELECTED_MARK = "⚠ best-on-test (test-selected)"
REPORTED_MARK = "reported"
REPORTED_SELECTION = {"test-selected": "⚠ test-selected", "final-epoch": "final epoch (own code)",
                      "as-published": "as the paper states (not verified)"}
N_RESAMPLES = 1000
BOOT_SEED = 0


def selection_text(selection: str) -> str:
    """The policy as the board prints it: test-set selection is always flagged."""
    return TEST_SELECTED_MARK if selection == BEST_ON_TEST else selection


def _aligned(predictions: Sequence[pd.DataFrame]) -> bool:
    """Whether several runs' predictions cover the same samples, in the same order, same labels."""
    first = predictions[0][["dataset", "subject", "sample", "label"]].to_numpy()
    return all(len(p) == len(first) and
               (p[["dataset", "subject", "sample", "label"]].to_numpy() == first).all()
               for p in predictions[1:])


def run_scores(predictions: pd.DataFrame, num_classes: int) -> dict[str, float]:
    """Every metric pooled ("uf1", ...) and per dataset ("casme2 UF1", ...) of one run."""
    pooled = score(predictions["label"].to_numpy(), predictions["pred"].to_numpy(), num_classes, "cpu")
    out = dict(pooled.values)
    for dataset, part in predictions.groupby("dataset", sort=True):
        s = score(part["label"].to_numpy(), part["pred"].to_numpy(), num_classes, "cpu")
        out.update({f"{dataset} {metric(n).label}": s.values[n] for n in metric_names()})
    return out


def ranking(runs: pd.DataFrame, predictions: Mapping[str, pd.DataFrame],
            n_resamples: int = N_RESAMPLES, seed: int = BOOT_SEED) -> pd.DataFrame:
    """Numeric ranking of one protocol's runs: one row per configuration, best mean UF1 first.

    `predictions` maps run_id to `data.predictions_frame` tables. Columns: model, selection,
    epochs, seeds, n_seeds, uf1/uar mean, sd, low, high, per-dataset means, params, date, run_ids.
    """
    rows = []
    for _, group in runs.groupby("config_key", sort=False):
        group = group.sort_values("seed")
        preds = [predictions[r] for r in group["run_id"]]
        num_classes = int(group["n_classes"].iloc[0])
        per_run = [run_scores(p, num_classes) for p in preds]
        row = {"model": group["model"].iloc[0], "source": group["source"].iloc[0],
               "selection": group["selection"].iloc[0], "epochs": int(group["epochs"].iloc[0]),
               "seeds": ",".join(str(s) for s in group["seed"]), "n_seeds": len(group)}
        names = metric_names()
        for name in names:
            spread = seed_spread([s[name] for s in per_run])
            row[f"{name}_mean"], row[f"{name}_sd"] = spread.mean, spread.sd
        if _aligned(preds):
            ci = bootstrap_ci(preds[0]["label"].to_numpy(), [p["pred"].to_numpy() for p in preds],
                              preds[0]["group"].to_numpy(), num_classes, n_resamples, seed)
            for name in names:
                row[f"{name}_low"], row[f"{name}_high"] = ci[name].low, ci[name].high
        else:
            for name in names:
                row[f"{name}_low"] = row[f"{name}_high"] = float("nan")
        labels = [metric(n).label for n in names]
        for key in sorted((k for k in per_run[0] if k not in names),
                          key=lambda k: (k.rsplit(" ", 1)[0], labels.index(k.rsplit(" ", 1)[1]))):
            row[key] = float(np.mean([s.get(key, np.nan) for s in per_run]))
        params = group["num_params"].iloc[0]
        row["params"] = int(params) if params is not None and not pd.isna(params) else None
        row["date"] = max(group["date"])
        row["run_ids"] = " ".join(group["run_id"])
        row["config_key"] = group["config_key"].iloc[0]
        row["leak_key"] = group["leak_key"].iloc[0]
        rows.append(row)
    table = pd.DataFrame(rows)
    if not len(table):
        return table
    table = table.sort_values([f"{n}_mean" for n in metric_names()],
                              ascending=[not metric(n).higher_is_better for n in metric_names()],
                              kind="stable")
    table.insert(0, "rank", range(1, len(table) + 1))
    return table.reset_index(drop=True)


def _with_spread(mean: float, sd: float, n: int) -> str:
    return f"{mean:.4f}" if n < 2 or np.isnan(sd) else f"{mean:.4f} ± {sd:.4f}"


def _interval(low: float, high: float) -> str:
    return "-" if np.isnan(low) else f"[{low:.3f}, {high:.3f}]"


def ranking_display(table: pd.DataFrame) -> pd.DataFrame:
    """The ranking as text for the page: mean ± sd, 95% CI, flagged selection."""
    if not len(table):
        return pd.DataFrame()
    labels = [metric(n).label for n in metric_names()]
    datasets = [c for c in table.columns if c.rsplit(" ", 1)[-1] in labels and " " in c]
    out = pd.DataFrame({"rank": table["rank"], "model": table["model"]})
    for name in metric_names():
        label = metric(name).label
        out[label] = [_with_spread(m, s, n) for m, s, n in
                      zip(table[f"{name}_mean"], table[f"{name}_sd"], table["n_seeds"])]
        out[f"{label} 95% CI"] = [_interval(lo, hi) for lo, hi in
                                  zip(table[f"{name}_low"], table[f"{name}_high"])]
    for col in datasets:
        out[col] = [f"{v:.4f}" for v in table[col]]
    out["selection"] = [selection_text(s) for s in table["selection"]]
    out["epochs"] = table["epochs"]
    out["seeds"] = table["seeds"]
    out["params"] = [f"{p:,}" if p is not None and not pd.isna(p) else "-" for p in table["params"]]
    out["source"] = table["source"]
    out["date"] = table["date"]
    return out.set_index("rank")


def reported_table(protocol: str) -> pd.DataFrame | None:
    """The protocol's published numbers (`<protocol>_reported.csv` of mer_bench_protocols)."""
    path = resources.files("mer_bench_protocols").joinpath("data", f"{protocol}_reported.csv")
    if not path.is_file():
        return None
    with resources.as_file(path) as real:
        table = pd.read_csv(real, comment="#")
    return table


def reported_display(table: pd.DataFrame) -> pd.DataFrame:
    """Reported rows, each labelled as reported and with how its epoch was chosen."""
    out = pd.DataFrame({"method": table["method"], "kind": REPORTED_MARK,
                        "UF1": table["composite_uf1"].map("{:.4f}".format),
                        "UAR": table["composite_uar"].map("{:.4f}".format)})
    for col in table.columns:
        if col.endswith("_uf1") or col.endswith("_uar"):
            if not col.startswith("composite"):
                dataset, metric = col.rsplit("_", 1)
                out[f"{dataset} {metric.upper()}"] = table[col].map("{:.4f}".format)
    out["selection"] = [REPORTED_SELECTION.get(s, s) for s in table["selection"]]
    out["source"] = table["source"]
    return out.set_index("method")


def chance_table(labels: np.ndarray, groups: np.ndarray, num_classes: int,
                 candidates: Sequence[int], repeats: int = 100, seed: int = 0) -> pd.DataFrame:
    """Chance UF1 / UAR of a class-prior random predictor for each candidate-epoch count K."""
    rows = []
    for k in sorted(set(int(c) for c in candidates)):
        level = chance_level(labels, groups, num_classes, k, repeats if k > 1 else 4 * repeats, seed)
        rows.append({"reference": f"chance, {level.selection}", "K": k,
                     "selection": "fixed" if k == 1 else BEST_ON_TEST,
                     **level.mean, **{f"{n}_sd": v for n, v in level.sd.items()},
                     "repeats": level.repeats})
    return pd.DataFrame(rows)


def chance_candidates(table: pd.DataFrame) -> list[int]:
    """K = 1 (fixed) and each epoch count of the best-on-test configurations shown."""
    ks = {1}
    if len(table):
        ks |= {int(e) for e, s in zip(table["epochs"], table["selection"]) if s == BEST_ON_TEST}
    return sorted(ks)


def leakage_gaps(table: pd.DataFrame) -> pd.DataFrame:
    """For configurations run under both policies: best-on-test minus fixed (the leakage gap)."""
    rows = []
    if not len(table):
        return pd.DataFrame(rows)
    for _, group in table.groupby("leak_key", sort=False):
        fixed = group[group["selection"] == "fixed"]
        test = group[group["selection"] == BEST_ON_TEST]
        if len(fixed) and len(test):
            f, t = fixed.iloc[0], test.iloc[0]
            row = {"model": f["model"], "epochs": int(f["epochs"])}
            for name in metric_names():
                label = metric(name).label
                row.update({f"{label} fixed": f[f"{name}_mean"],
                            f"{label} best-on-test": t[f"{name}_mean"],
                            f"{label} gap": t[f"{name}_mean"] - f[f"{name}_mean"]})
            rows.append({**row, "seeds fixed": f["seeds"], "seeds best-on-test": t["seeds"]})
    return pd.DataFrame(rows)


def compare_runs(a: pd.DataFrame, b: pd.DataFrame, num_classes: int,
                 n_resamples: int = 2000, seed: int = BOOT_SEED) -> pd.DataFrame:
    """B minus A: difference, paired bootstrap 95% CI and p-values (bootstrap, permutation)."""
    if not _aligned([a, b]):
        raise MerBenchError("the two runs do not cover the same samples with the same labels: "
                            "a paired comparison needs both")
    diff = paired_difference(a["label"].to_numpy(), a["pred"].to_numpy(), b["pred"].to_numpy(),
                             a["group"].to_numpy(), num_classes, n_resamples, seed)
    return pd.DataFrame([{"metric": d.metric.upper(), "A": d.a, "B": d.b, "B - A": d.difference,
                          "95% CI low": d.low, "95% CI high": d.high,
                          "p (paired bootstrap)": d.p_bootstrap,
                          "p (permutation)": d.p_permutation, "subjects": d.n_subjects}
                         for d in diff.values()]).set_index("metric")


def confusion_frame(predictions: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """Confusion counts: rows truth, columns prediction, labelled by class name."""
    cm = subject_confusions(predictions["label"].to_numpy(), predictions["pred"].to_numpy(),
                            np.zeros(len(predictions), dtype=int), len(classes), [0])[0]
    return pd.DataFrame(cm, index=[f"true {c}" for c in classes],
                        columns=[f"pred {c}" for c in classes])


def class_table(predictions: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """Per-class F1 and recall (None where the metrics' rule leaves a class out) and support."""
    s = score(predictions["label"].to_numpy(), predictions["pred"].to_numpy(), len(classes), "cpu")
    support = np.bincount(predictions["label"].to_numpy(), minlength=len(classes))
    return pd.DataFrame({"F1": s.f1_per_class, "recall": s.recall_per_class, "support": support},
                        index=list(classes))


def subject_table(predictions: pd.DataFrame, num_classes: int) -> pd.DataFrame:
    """Per held-out subject: samples, accuracy, UF1 and UAR of its own predictions."""
    order = list(dict.fromkeys(predictions["group"]))
    cms = subject_confusions(predictions["label"].to_numpy(), predictions["pred"].to_numpy(),
                             predictions["group"].to_numpy(), num_classes, order)
    n = cms.sum(axis=(1, 2))
    correct = np.trace(cms, axis1=1, axis2=2)
    values = metric_values(cms)
    return pd.DataFrame({"subject": order, "n": n, "accuracy": correct / np.maximum(n, 1),
                         **{metric(name).label: values[name] for name in metric_names()}})
