"""The mer-bench leaderboard (Streamlit). Start it with `mer-bench leaderboard [--store PATH]`.

It opens the results database read-only and recomputes every number from stored predictions.
Computations are cached per database state (file mtimes), so the page stays fast.
"""

from __future__ import annotations

import os
import sys

import pandas as pd
import streamlit as st

from mer_bench.errors import MerBenchError
from mer_bench.export import export_csv
from mer_bench.metrics import metric, metric_names
from mer_bench.paths import default_store_path
from mer_bench_leaderboard import charts, tables
from mer_bench_leaderboard.data import (display_location, open_read_only, predictions_frame,
                                        record_dict, runs_frame, store_location, store_version)


def store_path_from(argv: list[str], env: dict[str, str]) -> str:
    """`--store PATH` after streamlit's `--`, else $MER_BENCH_STORE, else the default store (a
    file path, expanded, or a database URL)."""
    if "--store" in argv[:-1]:
        return store_location(argv[argv.index("--store") + 1])
    return store_location(env.get("MER_BENCH_STORE") or default_store_path())


@st.cache_data(show_spinner=False, max_entries=4)
def load_board(path: str, version: tuple) -> dict:
    """Complete runs and their predictions (the only read of the database per version)."""
    store = open_read_only(path)
    try:
        runs = runs_frame(store)
        predictions = {r: predictions_frame(store, r) for r in runs["run_id"]}
        records = {r: record_dict(store, r) for r in runs["run_id"]}
        folds = {r: store.folds(r) for r in runs["run_id"]}
    finally:
        store.close()
    return {"runs": runs, "predictions": predictions, "records": records, "folds": folds}


@st.cache_data(show_spinner=False, max_entries=16)
def load_ranking(path: str, version: tuple, protocol: str) -> pd.DataFrame:
    board = load_board(path, version)
    runs = board["runs"][board["runs"]["protocol"] == protocol]
    return tables.ranking(runs, board["predictions"])


@st.cache_data(show_spinner=False, max_entries=16)
def load_chance(path: str, version: tuple, protocol: str, candidates: tuple[int, ...]) -> pd.DataFrame:
    board = load_board(path, version)
    runs = board["runs"][board["runs"]["protocol"] == protocol]
    first = board["predictions"][runs["run_id"].iloc[0]]
    return tables.chance_table(first["label"].to_numpy(), first["group"].to_numpy(),
                               int(runs["n_classes"].iloc[0]), candidates)


@st.cache_data(show_spinner=False, max_entries=32)
def load_compare(path: str, version: tuple, a: str, b: str) -> pd.DataFrame:
    board = load_board(path, version)
    num_classes = len(board["records"][a]["classes"])
    return tables.compare_runs(board["predictions"][a], board["predictions"][b], num_classes)


@st.cache_data(show_spinner=False, max_entries=32)
def predictions_csv(path: str, version: tuple, run_id: str) -> bytes:
    store = open_read_only(path)
    try:
        return export_csv(store, store.run(run_id)).to_csv(index=False).encode()
    finally:
        store.close()


def run_label(row: pd.Series) -> str:
    policy = "BEST-ON-TEST" if row["selection"] == tables.BEST_ON_TEST else row["selection"]
    return f"{row['model']} | {policy} | {row['epochs']} ep | seed {row['seed']} | {row['run_id']}"


def show_ranking(path: str, version: tuple, protocol: str, runs: pd.DataFrame) -> None:
    table = load_ranking(path, version, protocol)
    chance = load_chance(path, version, protocol, tuple(tables.chance_candidates(table)))
    reported = tables.reported_table(protocol)
    st.subheader(f"Ranking: reproduced runs on {protocol}")
    st.caption("Mean over seeds (± sd when several seeds share a configuration); 95% intervals "
               "from a bootstrap over held-out subjects. ⚠ best-on-test = each fold kept the epoch "
               "with the best accuracy on its own test subject (test-set selection): compare it "
               "with the chance line for the same number of epochs, not with fixed runs.")
    st.table(tables.ranking_display(table))
    st.download_button("Download ranking (CSV)", table.to_csv(index=False).encode(),
                       file_name=f"{protocol}-ranking.csv", mime="text/csv", key="dl_ranking")
    chart_metric = st.radio("Chart metric", metric_names(), horizontal=True, key="chart_metric",
                            format_func=lambda name: metric(name).label)
    st.altair_chart(charts.ranking_chart(table, chance, reported, chart_metric), width="stretch")
    st.subheader("Chance references")
    st.caption("A predictor drawing labels from the class prior. Under best-on-test with K "
               "candidate epochs each fold keeps the luckiest of K draws: on small held-out "
               "subjects that alone scores far above chance.")
    names = metric_names()
    columns = ["K", *names, *(f"{n}_sd" for n in names), "repeats"]
    labels = {**{n: metric(n).label for n in names},
              **{f"{n}_sd": f"{metric(n).label} sd" for n in names}}
    st.table(chance.set_index("reference")[columns].rename(columns=labels))
    gaps = tables.leakage_gaps(table)
    if len(gaps):
        st.subheader("Leakage gap (same configuration, both selection policies)")
        st.table(gaps.set_index("model"))
    if reported is not None:
        st.subheader("Reported in papers (not reproduced here; not ranked)")
        st.table(tables.reported_display(reported))


def show_detail(path: str, version: tuple, board: dict, runs: pd.DataFrame) -> None:
    labels = {r["run_id"]: run_label(r) for _, r in runs.iterrows()}
    run_id = st.selectbox("Run", list(labels), format_func=labels.get, key="detail_run")
    record = board["records"][run_id]
    preds = board["predictions"][run_id]
    classes = list(record["classes"])
    scores = tables.run_scores(preds, len(classes))
    st.subheader(f"Run {run_id}: {record['model']}")
    if record["selection"] == tables.BEST_ON_TEST:
        st.warning("This run used best-on-test selection: its epochs were chosen on test labels.")
    names = metric_names()
    cols = st.columns(len(names) + 2)
    for col, name in zip(cols, names):
        col.metric(metric(name).label, f"{scores[name]:.4f}")
    cols[-2].metric("selection", tables.selection_text(record["selection"]))
    cols[-1].metric("samples", len(preds))
    st.markdown("#### Confusion matrix")
    confusion = tables.confusion_frame(preds, classes)
    st.altair_chart(charts.confusion_chart(confusion))
    st.table(confusion)
    st.markdown("#### Per-class F1 and recall")
    st.table(tables.class_table(preds, classes))
    st.markdown("#### Per-subject scores")
    st.altair_chart(charts.subject_chart(tables.subject_table(preds, len(classes))),
                    width="stretch")
    st.markdown("#### Per-fold time")
    folds = board["folds"][run_id]
    st.altair_chart(charts.fold_time_chart(folds), width="stretch")
    st.caption(f"total {folds['seconds'].sum():.1f} s over {len(folds)} folds")
    left, right = st.columns(2)
    left.markdown("#### Model card")
    left.json(record["card"], expanded=False)
    right.markdown("#### Effective recipe")
    right.json(record["recipe"])
    st.markdown("#### Provenance")
    fields = ["run_id", "config_hash", "seed", "source", "status", "mer_bench_version",
              "git_commit", "torch_version", "device_name", "executor", "started_at", "finished_at"]
    prov = {k: record[k] for k in fields} | {f"provenance.{k}": v
                                             for k, v in record["provenance"].items()}
    st.table(pd.DataFrame({"value": [str(v) for v in prov.values()]}, index=list(prov)))
    st.download_button("Download predictions (CSV)", predictions_csv(path, version, run_id),
                       file_name=f"{run_id}.csv", mime="text/csv", key="dl_predictions")


def show_compare(path: str, version: tuple, board: dict, runs: pd.DataFrame) -> None:
    if len(runs) < 2:
        st.info("Comparing needs two runs of this protocol.")
        return
    labels = {r["run_id"]: run_label(r) for _, r in runs.iterrows()}
    ids = list(labels)
    a = st.selectbox("Run A", ids, index=0, format_func=labels.get, key="compare_a")
    b = st.selectbox("Run B", ids, index=1, format_func=labels.get, key="compare_b")
    if a == b:
        st.info("Pick two different runs.")
        return
    try:
        result = load_compare(path, version, a, b)
    except MerBenchError as exc:
        st.error(str(exc))
        return
    st.subheader("B minus A (paired bootstrap over subjects)")
    st.table(result)
    row_a = runs.set_index("run_id").loc[a]
    row_b = runs.set_index("run_id").loc[b]
    if row_a["leak_key"] == row_b["leak_key"] and row_a["selection"] != row_b["selection"]:
        test_is_b = row_b["selection"] == tables.BEST_ON_TEST
        gap = result["B - A"] * (1 if test_is_b else -1)
        st.warning(f"Same configuration under both policies: leakage gap (best-on-test minus "
                   f"fixed) UF1 {gap['UF1']:+.4f}, UAR {gap['UAR']:+.4f}.")


def main() -> None:
    st.set_page_config(page_title="mer-bench leaderboard", layout="wide")
    st.title("mer-bench leaderboard")
    path = store_path_from(sys.argv, dict(os.environ))
    st.caption(f"results database: {display_location(path)} (read only). Every score is "
               "recomputed from stored per-sample predictions.")
    try:
        version = store_version(path)
        board = load_board(str(path), version)
    except MerBenchError as exc:
        st.error(str(exc))
        return
    runs_all = board["runs"]
    if not len(runs_all):
        st.info("No complete runs yet: `mer-bench run ...` or `mer-bench import FILE`.")
        return
    protocols = sorted(runs_all["protocol"].unique())
    protocol = st.sidebar.selectbox("Protocol", protocols, key="protocol")
    runs = runs_all[runs_all["protocol"] == protocol].reset_index(drop=True)
    ranking_tab, detail_tab, compare_tab = st.tabs(["Ranking", "Run detail", "Compare runs"])
    with ranking_tab:
        show_ranking(str(path), version, protocol, runs)
    with detail_tab:
        show_detail(str(path), version, board, runs)
    with compare_tab:
        show_compare(str(path), version, board, runs)


main()
