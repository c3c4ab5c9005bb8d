"""What the leaderboard ranks and what `mer-bench table` prints: one place for both.

Scores come from the stored predictions only. A ranking row is one configuration (the runs of
one `group_hash`: same model, protocol, source and its data, view, selection and recipe); its seeds
are aggregated as mean ± sd, and its interval is a bootstrap over held-out subjects of that seed
mean. Runs on different sources are never ranked together (`default_source` picks the source a
reader sees first: real data when there is any), and only honest policies are ranked by default.

Each row carries the chance level of its own rule, computed from its own labels: a class-prior
random guesser with as many candidates as the row's policy declares (`chance_candidates`: one
for a policy that chooses on training subjects only, the epochs chosen among for one that reads
test labels). What a policy is (honest or not, its chance rule, its footnote) is read from the
policy registry; this module names no policy. Published numbers are a separate table, shown only
beside real-data runs, never rows of the ranking. A run that cannot be scored (no epochs to choose
from, predictions outside the classes) is set aside with its reason, never allowed to stop the
others.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from mer_bench.core.cards import stable_hash
from mer_bench.results.chance import chance_level
from mer_bench.core.errors import MerBenchError
from mer_bench.results.metrics import metric, metric_names, score
from mer_bench.results.stats import bootstrap_ci, seed_spread
from mer_bench.results.store import RunRecord, Store
from mer_bench.core.keys import sample_key
from mer_bench.results.truth import protocol_labelled
from mer_bench.results.store.records import DamagedRow

log = logging.getLogger(__name__)

#: The legacy test-label rule's registered name, for the board and the reference plan (which
#: name it as data); the ranking itself reads every policy's declarations from the registry.
BEST_ON_TEST = "best-on-test"
#: How a test-selected policy is printed: never without its warning (`selection_text`).
TEST_SELECTED = "⚠ {} (test-selected)"
TEST_SELECTED_MARK = TEST_SELECTED.format(BEST_ON_TEST)
REPORTED_MARK = "reported"
#: What the table says where a planned reference run has no result yet.
NOT_COMPUTED = "not computed yet"
#: The origin of shipped reference runs (`mer_bench.results.reference`).
REFERENCE = "reference"
REPORTED_SELECTION = {
    "test-selected": "⚠ test-selected",
    "final-epoch": "final epoch (own code)",
    "as-published": "as the paper states (not verified)",
}
N_RESAMPLES = 1000
BOOT_SEED = 0
#: Chance simulations: repeats for one candidate (fixed rule) and for K candidates.
CHANCE_REPEATS = (400, 100)
#: Runs whose every fold is stored; running, interrupted and failed runs are not ranked.
COMPLETE_STATUSES = ("finished", "imported")

RUN_COLUMNS = [
    "run_id",
    "model",
    "protocol",
    "source",
    "data",
    "view",
    "selection",
    "honest",
    "epochs",
    "seed",
    "status",
    "framework",
    "num_params",
    "date",
    "n_classes",
    "classes",
    "config_key",
    "leak_key",
    "problem",
    "origin",
]
UNRANKED_COLUMNS = [
    "run_id",
    "model",
    "protocol",
    "source",
    "selection",
    "status",
    "folds",
    "started",
]
#: `origin` of the runs of the database being read ("reference": shipped with mer-bench).
OWN = ""
#: `origin` of runs that came in through `mer-bench import` (status "imported"): shown as such
#: everywhere, and never averaged with runs computed here as seeds of one configuration.
IMPORTED = "imported"


# -- runs ---------------------------------------------------------------------------------------
def honest_policies() -> set[str]:
    """Registered policies that never read test labels (an unregistered one counts as not)."""
    from mer_bench.core.registry import POLICIES

    return {name for name, policy in POLICIES.items() if not policy.reads_test_labels}


def policy_class(selection: str) -> Any | None:
    """The registered policy class of `selection` (None when not registered, or broken here)."""
    from mer_bench.core.registry import POLICIES

    if selection not in POLICIES:
        return None
    try:
        return POLICIES.get(selection)
    except MerBenchError:
        return None


def reads_test_labels(selection: str) -> bool:
    """Whether a policy chooses on held-out labels (as it declares)."""
    cls = policy_class(selection)
    return bool(cls is not None and cls.reads_test_labels)


def data_kind(run: RunRecord) -> str:
    """ "synthetic" for runs on generated data (the demo), "real" otherwise. The registered
    source decides (a run's provenance is what it claims, and an import may claim anything);
    the provenance only for a source not registered here."""
    from mer_bench.core.registry import SOURCES

    if run.source in SOURCES:
        try:
            return "synthetic" if SOURCES.get(run.source).sample_ids == "generated" else "real"
        except MerBenchError:
            pass
    if "synthetic" in run.provenance:
        return "synthetic" if run.provenance["synthetic"] else "real"
    return "real"


def leak_key(run: RunRecord) -> str:
    """The run's identity without the seed and without the selection rule: runs of one
    configuration under different policies share it (policies side by side, leakage gap)."""
    identity = {
        k: v for k, v in run.identity.items() if k not in ("seed", "selection", "selection_options")
    }
    return stable_hash(identity)


def run_problem(selection: str, epochs: int | None, framework: str, honest: set[str]) -> str | None:
    """Why a complete run with this policy, epoch count and model framework cannot be ranked
    (the importer refuses such a submission for the same reason), or None."""
    if framework != "estimator" and (epochs is None or epochs < 1):
        if reads_test_labels(selection):
            return f"{selection} with {epochs} epochs: no epoch to choose from"
        return f"{epochs} epochs: nothing was trained"
    if selection not in honest and policy_class(selection) is None:
        return f"selection '{selection}' is not registered here"
    return None


def runs_frame(store: Store) -> pd.DataFrame:
    """One row per complete benchmark run, with the fields the board and the table group and
    show; `problem` says why a run cannot be ranked (None when it can)."""
    honest = honest_policies()
    rows = []
    counts = store.fold_counts()
    for run in store.runs():
        done = counts.get(run.run_id, 0)
        if run.kind != "benchmark" or run.status not in COMPLETE_STATUSES or done < run.n_folds:
            continue
        framework = run.card.get("framework", "torch")
        rows.append(
            {
                "run_id": run.run_id,
                "model": run.model,
                "protocol": run.protocol,
                "source": run.source,
                "data": data_kind(run),
                "view": run.view,
                "selection": run.selection,
                "honest": run.selection in honest,
                "epochs": run.epochs if framework != "estimator" else None,
                "seed": run.seed,
                "status": run.status,
                "framework": framework,
                "num_params": run.card.get("num_params") if framework != "estimator" else None,
                "date": (run.finished_at or run.started_at or "")[:10],
                "n_classes": len(run.classes),
                "classes": "|".join(run.classes),
                "config_key": run.group_hash,
                "leak_key": leak_key(run),
                "problem": run_problem(run.selection, run.epochs, framework, honest),
                "origin": IMPORTED if run.status == IMPORTED else OWN,
            }
        )
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def unranked_runs(store: Store) -> pd.DataFrame:
    """Every stored benchmark run that is not complete (running, interrupted, failed, killed),
    with its honest status and folds done, for the board's "not ranked" list."""
    from mer_bench.results.run_status import status_label

    counts = store.fold_counts()
    rows = []
    for run in store.runs():
        done = counts.get(run.run_id, 0)
        if run.kind != "benchmark" or (run.status in COMPLETE_STATUSES and done >= run.n_folds):
            continue
        rows.append(
            {
                "run_id": run.run_id,
                "model": run.model,
                "protocol": run.protocol,
                "source": run.source,
                "selection": run.selection,
                "status": status_label(run, done),
                "folds": f"{done}/{run.n_folds}",
                "started": run.started_at,
            }
        )
    return pd.DataFrame(rows, columns=UNRANKED_COLUMNS)


def predictions_frame(store: Store, run_id: str) -> pd.DataFrame:
    """A run's predictions sorted by sample, with the subject qualified by its dataset."""
    table = store.predictions(run_id)
    table["group"] = sample_key(table["dataset"], table["subject"])
    return table.sort_values(["dataset", "subject", "sample"]).reset_index(drop=True)


def record_dict(store: Store, run_id: str) -> dict:
    """The run row as plain data (card, recipe, provenance decoded)."""
    return asdict(store.run(run_id))


def load(store: Store, protocol: str | None = None) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The complete runs (of `protocol`, if given) and their predictions by run id, labelled
    with the protocol's own labels (`protocol_labelled`); a run whose samples are not the
    protocol's, or an imported run whose labels cannot be checked, gets its `problem`."""
    runs = runs_frame(store)
    if protocol is not None:
        runs = runs[runs["protocol"] == protocol].reset_index(drop=True)
    records = {r.run_id: r for r in store.runs(protocol)}
    predictions, problems, kept = {}, [], []
    for run_id, problem in zip(runs["run_id"], runs["problem"]):
        try:
            predictions[run_id], reason = protocol_labelled(
                predictions_frame(store, run_id), records[run_id], IMPORTED
            )
        except DamagedRow as exc:  # a warning naming the run; every other run is ranked
            store.leave_out(exc)
            kept.append(False)
            continue
        kept.append(True)
        problems.append(problem if not reason or (isinstance(problem, str) and problem) else reason)
    runs = runs[pd.Series(kept, index=runs.index, dtype=bool)].reset_index(drop=True)
    return runs.assign(problem=problems), predictions


def default_source(runs: pd.DataFrame) -> str | None:
    """The source a reader sees first: the real-data source with the most runs, else the source
    with the most runs (ties by name)."""
    if not len(runs):
        return None
    counts = runs.groupby(["source", "data"]).size().reset_index(name="n")
    counts["synthetic"] = counts["data"] == "synthetic"
    counts = counts.sort_values(["synthetic", "n", "source"], ascending=[True, False, True])
    return str(counts["source"].iloc[0])


def source_label(source: str, data: str) -> str:
    return f"{source} ({'synthetic demo data' if data == 'synthetic' else 'real data'})"


# -- scores -------------------------------------------------------------------------------------
def run_scores(predictions: pd.DataFrame, num_classes: int) -> dict[str, float]:
    """Every metric pooled ("uf1", ...) and per dataset ("casme2 UF1", ...) of one run."""
    pooled = score(
        predictions["label"].to_numpy(), predictions["pred"].to_numpy(), num_classes, "cpu"
    )
    out = dict(pooled.values)
    for dataset, part in predictions.groupby("dataset", sort=True):
        s = score(part["label"].to_numpy(), part["pred"].to_numpy(), num_classes, "cpu")
        out.update({f"{dataset} {metric(n).label}": s.values[n] for n in metric_names()})
    return out


def aligned(predictions: Sequence[pd.DataFrame]) -> bool:
    """Whether several runs' predictions cover the same samples, in the same order, same labels."""
    first = predictions[0][["dataset", "subject", "sample", "label"]].to_numpy()
    return all(
        len(p) == len(first)
        and (p[["dataset", "subject", "sample", "label"]].to_numpy() == first).all()
        for p in predictions[1:]
    )


def check_predictions(predictions: pd.DataFrame, num_classes: int) -> str | None:
    """Why a run's stored predictions cannot be scored, or None."""
    if not len(predictions):
        return "no predictions"
    for column in ("label", "pred"):
        values = predictions[column].to_numpy()
        if values.min() < 0 or values.max() >= num_classes:
            return f"{column} outside the {num_classes} classes"
    return None


def chance_candidates(selection: str, epochs: int | None) -> int:
    """How many candidate prediction sets a random guesser gets under a rule, as the policy
    declares it (one for an unregistered policy)."""
    cls = policy_class(selection)
    return 1 if cls is None else int(cls.chance_candidates(epochs))


def _epoch_counts(epochs: Any) -> tuple[list[int], bool]:
    """The distinct epoch counts among `epochs` (one value or several), and whether one of them
    is an estimator's (None, NaN or 0: fitted once)."""
    values = (
        list(epochs) if isinstance(epochs, (list, tuple, set, np.ndarray, pd.Series)) else [epochs]
    )
    fitted = [v is None or pd.isna(v) or not v for v in values]
    counts = sorted({int(v) for v, f in zip(values, fitted) if not f})
    return counts, any(fitted)


def rule_text(selection: str, epochs: Any, honest: bool) -> str:
    """One line saying how rows' predictions were chosen (the paper table's footnote), as the
    policy words it; `epochs` is one row's or those of every row under this rule (an
    estimator's is None or NaN)."""
    cls = policy_class(selection)
    if cls is None:
        return f"{selection}: a policy not registered here"
    counts, fitted = _epoch_counts(epochs)
    return cls.rule_text(counts, fitted)


@lru_cache(maxsize=256)
def _chance(labels: bytes, groups: tuple, num_classes: int, k: int) -> tuple:
    level = chance_level(
        np.frombuffer(labels, dtype=np.int64),
        np.asarray(groups, dtype=object),
        num_classes,
        k,
        CHANCE_REPEATS[0] if k == 1 else CHANCE_REPEATS[1],
        0,
    )
    return level.mean, level.sd, level.repeats


def chance_of(
    labels: np.ndarray, groups: np.ndarray, num_classes: int, k: int
) -> tuple[dict[str, float], dict[str, float], int]:
    """Mean and sd of a class-prior random guesser with `k` candidates per fold, on these labels
    and held-out groups (cached: rows with the same labels share it)."""
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    return _chance(labels.tobytes(), tuple(np.asarray(groups).tolist()), num_classes, k)


def ranking(
    runs: pd.DataFrame,
    predictions: Mapping[str, pd.DataFrame],
    problems: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Numeric ranking of runs (of one protocol and source): one row per configuration, best mean
    UF1 first.

    `predictions` maps run_id to `predictions_frame` tables. Columns: rank, model, source, data,
    view, selection, honest, epochs, seeds, n_seeds, per metric mean, sd, low, high and the chance
    of the row's rule, per-dataset means, params, date, run_ids, config_key, leak_key. Runs with a
    `problem` are left out; so is a configuration that fails to score, and the reason of each is
    added to `problems` (run_id -> reason) when given. Intervals: N_RESAMPLES bootstrap resamples
    drawn from BOOT_SEED.
    """
    problems = {} if problems is None else problems
    names = metric_names()
    rows = []
    has_problem = [isinstance(reason, str) and bool(reason) for reason in runs["problem"]]
    for run_id, reason, bad in zip(runs["run_id"], runs["problem"], has_problem):
        if bad:
            problems[run_id] = reason
    usable = runs[[not bad for bad in has_problem]] if len(runs) else runs
    # A configuration's seeds come from one database: shipped reference runs are never averaged
    # with a user's own runs of the same configuration.
    origins = usable["origin"].fillna(OWN) if "origin" in usable else pd.Series(OWN, usable.index)
    for _, group in usable.assign(origin=origins).groupby(["origin", "config_key"], sort=False):
        group = group.sort_values("seed")
        try:
            rows.append(_ranking_row(group, predictions, names, N_RESAMPLES, BOOT_SEED))
        except (MerBenchError, ValueError, KeyError, IndexError) as exc:
            log.warning("configuration of runs %s not ranked: %s", ", ".join(group["run_id"]), exc)
            for run_id in group["run_id"]:
                problems.setdefault(run_id, f"cannot be scored: {exc}")
    table = pd.DataFrame(rows)
    if not len(table):
        return table
    table = table.sort_values(
        [f"{n}_mean" for n in names],
        ascending=[not metric(n).higher_is_better for n in names],
        kind="stable",
    )
    table.insert(0, "rank", range(1, len(table) + 1))
    return table.reset_index(drop=True)


def _ranking_row(
    group: pd.DataFrame,
    predictions: Mapping[str, pd.DataFrame],
    names: list[str],
    n_resamples: int,
    seed: int,
) -> dict[str, Any]:
    preds = [predictions[r] for r in group["run_id"]]
    num_classes = int(group["n_classes"].iloc[0])
    for p in preds:
        reason = check_predictions(p, num_classes)
        if reason:
            raise MerBenchError(reason)
    per_run = [run_scores(p, num_classes) for p in preds]
    first = group.iloc[0]
    epochs = None if first["epochs"] is None or pd.isna(first["epochs"]) else int(first["epochs"])
    row: dict[str, Any] = {
        "model": first["model"],
        "source": first["source"],
        "data": first["data"],
        "view": first["view"],
        "selection": first["selection"],
        "honest": bool(first["honest"]),
        "epochs": epochs,
        "seeds": ",".join(str(s) for s in group["seed"]),
        "n_seeds": len(group),
        "origin": first["origin"],
    }
    for name in names:
        spread = seed_spread([s[name] for s in per_run])
        row[f"{name}_mean"], row[f"{name}_sd"] = spread.mean, spread.sd
    if aligned(preds):
        ci = bootstrap_ci(
            preds[0]["label"].to_numpy(),
            [p["pred"].to_numpy() for p in preds],
            preds[0]["group"].to_numpy(),
            num_classes,
            n_resamples,
            seed,
        )
        for name in names:
            row[f"{name}_low"], row[f"{name}_high"] = ci[name].low, ci[name].high
    else:
        for name in names:
            row[f"{name}_low"] = row[f"{name}_high"] = float("nan")
    k = chance_candidates(first["selection"], epochs)
    mean, sd, _ = chance_of(
        preds[0]["label"].to_numpy(), preds[0]["group"].to_numpy(), num_classes, k
    )
    row["chance_k"] = k
    for name in names:
        row[f"{name}_chance"], row[f"{name}_chance_sd"] = mean[name], sd[name]
    labels = [metric(n).label for n in names]
    for key in sorted(
        (k for k in per_run[0] if k not in names),
        key=lambda k: (k.rsplit(" ", 1)[0], labels.index(k.rsplit(" ", 1)[1])),
    ):
        row[key] = float(np.mean([s.get(key, np.nan) for s in per_run]))
    params = first["num_params"]
    row["params"] = int(params) if params is not None and not pd.isna(params) else None
    row["date"] = max(group["date"])
    row["run_ids"] = " ".join(group["run_id"])
    row["config_key"] = first["config_key"]
    row["leak_key"] = first["leak_key"]
    return row


def dataset_columns(table: pd.DataFrame) -> list[str]:
    """The per-dataset columns of a ranking ("casme2 UF1", ...), in order."""
    labels = [metric(n).label for n in metric_names()]
    return [c for c in table.columns if " " in c and c.rsplit(" ", 1)[-1] in labels]


def ranked(table: pd.DataFrame, include_test_selected: bool = False) -> pd.DataFrame:
    """The ranking as shown: honest configurations only unless asked, ranks renumbered."""
    if not len(table):
        return table
    shown = table if include_test_selected else table[table["honest"]]
    shown = shown.drop(columns="rank").reset_index(drop=True)
    shown.insert(0, "rank", range(1, len(shown) + 1))
    return shown


def _leak_groups(table: pd.DataFrame) -> list[pd.Series]:
    """One model configuration under its several policies, within one database (origin)."""
    origin = table["origin"].fillna(OWN) if "origin" in table else pd.Series(OWN, table.index)
    return [origin, table["leak_key"]]


def policies_side_by_side(table: pd.DataFrame) -> pd.DataFrame:
    """Per model configuration (same data, view and recipe), every policy it was run under, honest
    ones first, with the chance level of each rule and the score above it; where a policy that
    reads test labels and an honest one were both run, the leak (its score minus the best honest
    score)."""
    rows = []
    if not len(table):
        return pd.DataFrame(rows)
    names = metric_names()
    for _, group in table.groupby(_leak_groups(table), sort=False):
        group = group.sort_values(["honest", "uf1_mean"], ascending=[False, False])
        best_honest = group[group["honest"]]
        for _, r in group.iterrows():
            row = {
                "model": r["model"],
                "view": r["view"],
                "epochs": r["epochs"],
                "selection": r["selection"],
                "honest": r["honest"],
                "seed ids": r["seeds"],
                "chance rule": "fixed-selection chance"
                if r["chance_k"] == 1
                else f"best-of-{r['chance_k']} chance",
            }
            for name in names:
                label = metric(name).label
                row[label] = r[f"{name}_mean"]
                row[f"{label} chance"] = r[f"{name}_chance"]
                row[f"{label} above chance"] = r[f"{name}_mean"] - r[f"{name}_chance"]
                if not r["honest"] and len(best_honest):
                    row[f"{label} leak"] = r[f"{name}_mean"] - best_honest[f"{name}_mean"].max()
            rows.append(row)
    return pd.DataFrame(rows)


def leakage_gaps(table: pd.DataFrame) -> pd.DataFrame:
    """For configurations run under a policy that reads test labels and under the honest policy
    it pairs with (`pairs_with`, e.g. best-on-test and fixed): its score minus the honest one."""
    rows = []
    if not len(table):
        return pd.DataFrame(rows)
    for _, group in table.groupby(_leak_groups(table), sort=False):
        for _, t in group[[reads_test_labels(s) for s in group["selection"]]].iterrows():
            paired = policy_class(t["selection"]).pairs_with
            honest = group[group["selection"].isin(paired)]
            if not len(honest):
                continue
            f = honest.iloc[0]
            honest_name, test_name = f["selection"], t["selection"]
            row = {"model": f["model"], "epochs": f["epochs"]}
            for name in metric_names():
                label = metric(name).label
                row.update(
                    {
                        f"{label} {honest_name}": f[f"{name}_mean"],
                        f"{label} {test_name}": t[f"{name}_mean"],
                        f"{label} gap": t[f"{name}_mean"] - f[f"{name}_mean"],
                    }
                )
            rows.append(
                {**row, f"seed ids {honest_name}": f["seeds"], f"seed ids {test_name}": t["seeds"]}
            )
    return pd.DataFrame(rows)


def chance_table(table: pd.DataFrame) -> pd.DataFrame:
    """The distinct chance references of a ranking: one row per rule and label set."""
    if not len(table):
        return pd.DataFrame()
    names = metric_names()
    out = table.drop_duplicates(subset=["chance_k", *[f"{n}_chance" for n in names]])
    rows = []
    for _, r in out.sort_values("chance_k").iterrows():
        k = int(r["chance_k"])
        rules = sorted(set(table.loc[table["chance_k"] == k, "selection"]))
        rows.append(
            {
                "reference": f"chance, one candidate per subject ({', '.join(rules)})"
                if k == 1
                else f"chance, {', '.join(rules)} (K={k})",
                "K": k,
                **{n: r[f"{n}_chance"] for n in names},
                **{f"{n}_sd": r[f"{n}_chance_sd"] for n in names},
                "repeats": CHANCE_REPEATS[0] if k == 1 else CHANCE_REPEATS[1],
                "rows": ", ".join(
                    table.loc[
                        (table["chance_k"] == k)
                        & (table[f"{names[0]}_chance"] == r[f"{names[0]}_chance"]),
                        "model",
                    ]
                ),
            }
        )
    return pd.DataFrame(rows)


def reported_table(protocol: str) -> pd.DataFrame | None:
    """The protocol's published numbers (`<protocol>_reported.csv` of mer_bench_protocols)."""
    try:
        path = resources.files("mer_bench_protocols").joinpath("data", f"{protocol}_reported.csv")
    except ModuleNotFoundError:
        return None
    if not path.is_file():
        return None
    with resources.as_file(path) as real:
        return pd.read_csv(real, comment="#")


# -- text cells (the board's tables and the paper table print the same strings) ---------------
def with_spread(mean: float, sd: float, n: int, digits: int = 4) -> str:
    """ "0.7012 ± 0.0123" over several seeds; the mean alone for one."""
    return (
        f"{mean:.{digits}f}"
        if n < 2 or sd is None or np.isnan(sd)
        else f"{mean:.{digits}f} ± {sd:.{digits}f}"
    )


def interval(low: float, high: float, digits: int = 3) -> str:
    return "-" if low is None or np.isnan(low) else f"[{low:.{digits}f}, {high:.{digits}f}]"


def selection_text(selection: str) -> str:
    """The policy as the board prints it: test-set selection is always flagged."""
    return TEST_SELECTED.format(selection) if reads_test_labels(selection) else selection


def epochs_text(epochs: Any) -> str:
    """Epochs of a row; "-" for an estimator (fitted once, no epochs)."""
    return "-" if epochs is None or pd.isna(epochs) else str(int(epochs))


def params_text(params: Any) -> str:
    return "-" if params is None or pd.isna(params) or not params else f"{int(params):,}"


def paper_table(
    table: pd.DataFrame,
    reported: pd.DataFrame | None = None,
    digits: int = 4,
    missing: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """A ranking as a paper prints it: one text row per configuration (model, view, selection,
    epochs, seeds, UF1 and UAR as mean ± sd and their 95% interval, per-dataset means), then the
    published numbers as their own rows labelled "reported, <how chosen>", then the planned
    reference runs not computed yet (`missing`, from `reference.not_computed`); and the
    footnotes: one line per rule the rows used. An `origin` column ("reference" or blank) appears
    when shipped reference runs are among the rows."""
    names = metric_names()
    datasets = dataset_columns(table) if len(table) else []
    origins = set(table["origin"].fillna(OWN)) if len(table) and "origin" in table else set()
    with_origin = bool(origins & {REFERENCE, IMPORTED})
    rows, rules = [], {}
    for _, r in table.iterrows():
        row = {
            "rank": str(r["rank"]),
            "origin": r.get("origin") or "",
            "model": r["model"],
            "view": r["view"],
            "selection": r["selection"],
            "epochs": epochs_text(r["epochs"]),
            "seeds": r["seeds"],
        }
        for name in names:
            label = metric(name).label
            row[label] = with_spread(r[f"{name}_mean"], r[f"{name}_sd"], r["n_seeds"], digits)
            row[f"{label} 95% CI"] = interval(r[f"{name}_low"], r[f"{name}_high"], digits - 1)
        for col in datasets:
            row[col] = f"{r[col]:.{digits}f}"
        rows.append(row)
        # one footnote per rule, over every row under it (an estimator beside networks too)
        under = table["selection"] == r["selection"]
        rules.setdefault(
            r["selection"], rule_text(r["selection"], table.loc[under, "epochs"], r["honest"])
        )
    if reported is not None and len(reported):
        for _, r in reported.iterrows():
            how = r.get("selection", "as-published")
            row = {
                "rank": "",
                "origin": "",
                "model": r["method"],
                "view": "",
                "selection": f"reported, {how}",
                "epochs": "",
                "seeds": "",
            }
            for name in names:
                label = metric(name).label
                value = r.get(f"composite_{name}")
                row[label] = "-" if value is None or pd.isna(value) else f"{value:.{digits}f}"
                row[f"{label} 95% CI"] = ""
            for col in datasets:
                dataset, label = col.rsplit(" ", 1)
                value = r.get(f"{dataset}_{label.lower()}")
                row[col] = "-" if value is None or pd.isna(value) else f"{value:.{digits}f}"
            rows.append(row)
            rules.setdefault(
                f"reported, {how}",
                f"reported, {how}: {REPORTED_RULES.get(how, 'as published')}; not reproduced here",
            )
    if missing is not None and len(missing):
        with_origin = True
        for _, m in missing.iterrows():
            row = {
                "rank": "",
                "origin": REFERENCE,
                "model": m["model"],
                "view": "",
                "selection": selection_text(m["selection"]),
                "epochs": "",
                "seeds": m["seeds"],
            }
            for name in names:
                row[metric(name).label] = NOT_COMPUTED
                row[f"{metric(name).label} 95% CI"] = ""
            rows.append(row)
            rules.setdefault(
                f"{NOT_COMPUTED}: {m['command']}",
                f"{NOT_COMPUTED} ({m['model']}, {m['selection']}): {m['command']}",
            )
    if REFERENCE in origins or missing is not None and len(missing):
        rules.setdefault(
            REFERENCE,
            f"{REFERENCE}: computed by mer-bench on public data and "
            "shipped with it (results/); `mer-bench reproduce FILE` re-runs one",
        )
    if IMPORTED in origins:
        rules.setdefault(
            IMPORTED,
            f"{IMPORTED}: read from a submission file (`mer-bench "
            "import`), not computed here; scored against the protocol's own labels, "
            "never averaged with runs computed here",
        )
    columns = [
        "rank",
        *(["origin"] if with_origin else []),
        "model",
        "view",
        "selection",
        "epochs",
        "seeds",
    ]
    for name in names:
        columns += [metric(name).label, f"{metric(name).label} 95% CI"]
    columns += datasets
    return pd.DataFrame(rows, columns=columns).fillna(""), list(rules.values())


#: What each published selection means (the reported CSVs' `selection` column).
REPORTED_RULES = {
    "test-selected": "the epoch with the best accuracy on each held-out subject (test-set "
    "selection), as the paper's code does",
    "final-epoch": "the final epoch, as the authors' own code reports",
    "as-published": "as the paper states; the choice of epoch is not verified",
}
