"""The mer-bench leaderboard (Streamlit). Start it with `mer-bench leaderboard [--store PATH]`.

It opens the results database read-only and recomputes every number from stored predictions.
Runs on different sources are never ranked together (a source filter, real data first), only
honest selection policies are ranked unless asked, and a run that cannot be scored is listed
with its reason instead of stopping the page. Computations are cached per database state (file
mtimes), so the page stays fast.
"""

from __future__ import annotations

import os
import sys

import pandas as pd
import streamlit as st

from mer_bench.results import ranking as core
from mer_bench.results import reference
from mer_bench.core.errors import MerBenchError
from mer_bench.core.redact import scrub
from mer_bench.results.export import export_csv
from mer_bench.results.metrics import metric, metric_names
from mer_bench.core.paths import default_store_path
from mer_bench.results.store.database import sqlite_file
from mer_bench.results.store.records import DamagedRow
from mer_bench_leaderboard import charts, tables
from mer_bench_leaderboard.data import (
    display_location,
    open_read_only,
    record_dict,
    store_location,
    store_version,
    unranked_runs,
)

#: Table cells keep words whole (long model names and run ids scroll, never break mid-word).
CSS = """<style>
[data-testid="stTable"] td, [data-testid="stTable"] th,
[data-testid="stTable"] td *, [data-testid="stTable"] th * {
  word-break: keep-all !important; overflow-wrap: normal !important; hyphens: none !important;
  white-space: nowrap !important; }
[data-testid="stTable"] { overflow-x: auto; }
</style>"""

PROVENANCE_FIELDS = [
    "run_id",
    "config_hash",
    "seed",
    "source",
    "view",
    "status",
    "mer_bench_version",
    "git_commit",
    "torch_version",
    "device_name",
    "executor",
    "started_at",
    "finished_at",
    "wall_seconds",
]


def store_path_from(argv: list[str], env: dict[str, str]) -> str:
    """`--store PATH` after streamlit's `--`, else $MER_BENCH_STORE, else the default store (a
    file path, expanded, or a database URL)."""
    if "--store" in argv[:-1]:
        return store_location(argv[argv.index("--store") + 1])
    return store_location(env.get("MER_BENCH_STORE") or default_store_path())


def _read(path: str, origin: str) -> dict:
    """One database's complete runs, predictions, records and folds, each run marked `origin`
    (nothing, for a database file not made yet)."""
    file = sqlite_file(path)
    if file is not None and not file.exists():
        return {
            "runs": pd.DataFrame(columns=core.RUN_COLUMNS),
            "predictions": {},
            "records": {},
            "folds": {},
            "unranked": pd.DataFrame(columns=core.UNRANKED_COLUMNS),
            "locations": {},
        }
    store = open_read_only(path)
    try:
        # labelled with the protocol's own labels; imported runs keep their "imported" origin
        # unless the whole database is a shipped one. A run with a damaged row is left out (a
        # notice on the page), never the whole board.
        runs, predictions = core.load(store)
        if origin != core.OWN:
            runs = runs.assign(origin=origin)
        records, folds = {}, {}
        for run_id in runs["run_id"]:
            try:
                records[run_id] = record_dict(store, run_id)
                folds[run_id] = store.folds(run_id)
            except DamagedRow as exc:
                store.leave_out(exc)
                for table in (predictions, records, folds):
                    table.pop(run_id, None)
        runs = runs[runs["run_id"].isin(predictions)].reset_index(drop=True)
        return {
            "runs": runs,
            "predictions": predictions,
            "records": records,
            "folds": folds,
            "unranked": unranked_runs(store),
            "locations": {r: path for r in runs["run_id"]},
            "damaged": dict(store.damaged),
        }
    finally:
        store.close()


@st.cache_data(show_spinner=False, max_entries=4)
def load_board(path: str, version: tuple, shipped: bool = True) -> dict:
    """Complete runs and their predictions (the only read of the database per version), with
    mer-bench's shipped reference runs (marked "reference") unless `shipped` is False."""
    board = _read(path, core.OWN)
    board["shipped"], board["shipped_error"] = shipped, None
    try:
        database = reference.reference_database() if shipped else None
    except MerBenchError as exc:  # a broken reference set must not hide the user's runs
        board["shipped_error"], database = str(exc), None
    if database is not None:
        ref = _read(str(database), core.REFERENCE)
        runs, predictions = reference.with_reference(
            board["runs"], board["predictions"], ref["runs"], ref["predictions"]
        )
        added = [r for r in runs["run_id"] if r not in board["records"]]
        board["runs"], board["predictions"] = runs, predictions
        for key in ("records", "folds", "locations"):
            board[key].update({r: ref[key][r] for r in added})
    return board


@st.cache_data(show_spinner=False, max_entries=16)
def load_ranking(
    path: str, version: tuple, protocol: str, source: str, shipped: bool = True
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Every configuration of a protocol on one source (honest and not), and the runs set
    aside with their reasons."""
    board = load_board(path, version, shipped)
    runs = board["runs"]
    runs = runs[(runs["protocol"] == protocol) & (runs["source"] == source)]
    problems: dict[str, str] = {}
    return core.ranking(runs, board["predictions"], problems=problems), problems


@st.cache_data(show_spinner=False, max_entries=32)
def load_compare(path: str, version: tuple, a: str, b: str, shipped: bool = True) -> pd.DataFrame:
    board = load_board(path, version, shipped)
    num_classes = len(board["records"][a]["classes"])
    return tables.compare_runs(board["predictions"][a], board["predictions"][b], num_classes)


@st.cache_data(show_spinner=False, max_entries=32)
def predictions_csv(path: str, version: tuple, run_id: str) -> bytes:
    """A run's predictions as CSV, from the database that holds it (`path`: the user's, or the
    shipped reference runs')."""
    store = open_read_only(path)
    try:
        return export_csv(store, store.run(run_id)).to_csv(index=False).encode()
    finally:
        store.close()


def run_label(row: pd.Series) -> str:
    policy = "BEST-ON-TEST" if row["selection"] == core.BEST_ON_TEST else row["selection"]
    mark = {core.REFERENCE: " | REFERENCE", core.IMPORTED: " | IMPORTED"}.get(row.get("origin"), "")
    return (
        f"{row['model']} | {policy} | {core.epochs_text(row['epochs'])} ep | seed "
        f"{row['seed']} | {row['source']}{mark} | {row['run_id']}"
    )


def ordered_runs(runs: pd.DataFrame, *tables_in_order: pd.DataFrame) -> pd.DataFrame:
    """The runs in the order of the rankings given (the top-ranked configuration's first seed
    first), then the runs that are not ranked."""
    order: dict[str, tuple[int, int, int]] = {}
    for t, table in enumerate(tables_in_order):
        for position, ids in enumerate(table["run_ids"] if len(table) else ()):
            for i, run_id in enumerate(ids.split()):
                order.setdefault(run_id, (t, position, i))
    key = [order.get(r, (len(tables_in_order), 0, 0)) for r in runs["run_id"]]
    return runs.assign(_order=key).sort_values("_order", kind="stable").drop(columns="_order")


def show_ranking(
    protocol: str,
    source: str,
    data: str,
    table: pd.DataFrame,
    problems: dict[str, str],
    board: dict,
    with_test: bool,
) -> None:
    synthetic = data == "synthetic"
    reported = None if synthetic else core.reported_table(protocol)
    shown = core.ranked(table, include_test_selected=with_test)
    st.subheader(f"Ranking: {protocol} on {core.source_label(source, data)}")
    if synthetic:
        st.info(
            "Synthetic demo data: these runs show that a model trains through the harness; "
            "their numbers are not comparable with real-data runs or published results, "
            "so none are shown beside them."
        )
    st.caption(
        "Mean over seeds (± sd when several seeds share a configuration); 95% intervals "
        "from a bootstrap over held-out subjects; beside each score the chance level of "
        "its own rule, from its own labels. Only honest policies (that never read test "
        "labels) are ranked unless the sidebar adds best-on-test runs (⚠ each fold kept "
        "the epoch with the best accuracy on its own test subject)."
    )
    if len(shown):
        st.table(tables.ranking_display(shown))
        st.download_button(
            "Download ranking (CSV)",
            shown.to_csv(index=False).encode(),
            file_name=f"{protocol}-{source}-ranking.csv",
            mime="text/csv",
            key="dl_ranking",
        )
        chart_metric = st.radio(
            "Chart metric",
            metric_names(),
            horizontal=True,
            key="chart_metric",
            format_func=lambda name: metric(name).label,
        )
        st.altair_chart(charts.ranking_chart(shown, reported, chart_metric), width="stretch")
    else:
        st.info(
            "No configuration to rank here"
            + (
                ""
                if with_test
                else " under an honest policy (the sidebar can add best-on-test runs)"
            )
            + "."
        )
    side = core.policies_side_by_side(table)
    if len(side):
        st.subheader("Selection policies side by side")
        st.caption(
            "Per model configuration, every policy it was run under, each beside the "
            "chance level of its own rule (a class-prior random guesser under that rule "
            "and epoch count). val-subjects and nested choose on training subjects only, "
            "so their chance line is the fixed-selection one; best-on-test with K epochs "
            "keeps the luckiest of K draws per fold. The leak is best-on-test minus the "
            "best honest score of the same configuration."
        )
        st.table(tables.policies_display(side))
    chance = core.chance_table(table)
    if len(chance):
        st.subheader("Chance references")
        st.caption(
            "A predictor drawing labels from the class prior of the runs' own labels. "
            "Under best-on-test with K candidate epochs each fold keeps the luckiest of K "
            "draws: on small held-out subjects that alone scores far above chance."
        )
        st.table(tables.chance_display(chance))
    if reported is not None:
        st.subheader("Reported in papers (not reproduced here; not ranked)")
        st.table(tables.reported_display(reported))
    if board["shipped"]:
        runs = board["runs"]
        shipped = runs[
            (runs["origin"] == core.REFERENCE)
            & (runs["protocol"] == protocol)
            & (runs["source"] == source)
        ]
        missing = reference.not_computed(protocol, source, shipped)
        if not with_test:
            missing = missing[missing["selection"] != core.BEST_ON_TEST]
        if len(missing):
            st.subheader("Reference runs not computed yet")
            st.caption(
                "Planned before any run on the public data (docs/reference-results.md); "
                "each command computes its row. No number is shown until it exists."
            )
            st.table(tables.not_computed_display(missing))
    unranked = board["unranked"]
    unranked = unranked[(unranked["protocol"] == protocol) & (unranked["source"] == source)]
    rejected = tables.rejected_display(problems, board["runs"], unranked)
    if len(rejected):
        st.subheader("Stored runs that are not ranked")
        st.table(rejected)


def show_detail(
    path: str, version: tuple, board: dict, runs: pd.DataFrame, problems: dict[str, str]
) -> None:
    labels = {r["run_id"]: run_label(r) for _, r in runs.iterrows()}
    run_id = st.selectbox("Run", list(labels), index=0, format_func=labels.get, key="detail_run")
    record = board["records"][run_id]
    preds = board["predictions"][run_id]
    classes = list(record["classes"])
    st.subheader(f"Run {run_id}: {record['model']}")
    if board["locations"][run_id] != path:
        st.info(
            "A reference run: computed by mer-bench on public data and shipped with it "
            f"(results/). `mer-bench reproduce` re-runs it: {record['provenance'].get('command', '')}"
        )
    if record["selection"] == core.BEST_ON_TEST:
        st.warning("This run used best-on-test selection: its epochs were chosen on test labels.")
    if run_id in problems:
        st.error(f"Not ranked: {problems[run_id]}.")
    reason = core.check_predictions(preds, len(classes))
    if reason:
        st.error(f"Its stored predictions cannot be scored: {reason}.")
        return
    scores = core.run_scores(preds, len(classes))
    names = metric_names()
    cols = st.columns(len(names) + 3)
    for col, name in zip(cols, names):
        col.metric(metric(name).label, f"{scores[name]:.4f}")
    cols[-3].metric("selection", core.selection_text(record["selection"]))
    cols[-2].metric("view", record["view"])
    cols[-1].metric("samples", len(preds))
    st.markdown("#### Confusion matrix")
    confusion = tables.confusion_frame(preds, classes)
    st.altair_chart(charts.confusion_chart(confusion))
    st.table(confusion)
    st.markdown("#### Per-class F1 and recall")
    st.table(tables.class_table(preds, classes))
    st.markdown("#### Per-subject scores")
    st.altair_chart(
        charts.subject_chart(tables.subject_table(preds, len(classes))), width="stretch"
    )
    folds = board["folds"][run_id]
    st.markdown("#### Chosen epochs")
    chosen = tables.chosen_epochs(folds)
    if len(chosen):
        st.altair_chart(charts.epoch_histogram(chosen), width="stretch")
        st.caption(
            f"epoch kept by each of {int(chosen['folds'].sum())} folds "
            f"({core.selection_text(record['selection'])}); what each fold's policy "
            "recorded about its choice is below."
        )
        with st.expander("Per-fold choices"):
            st.table(tables.fold_choices(folds))
    else:
        st.caption("No epoch was chosen: the model is fitted once per fold.")
    st.markdown("#### Per-fold time")
    st.altair_chart(charts.fold_time_chart(folds), width="stretch")
    st.caption(f"total {folds['seconds'].sum():.1f} s over {len(folds)} folds")
    left, right = st.columns(2)
    left.markdown("#### Model card")
    left.json(record["card"], expanded=False)
    right.markdown("#### Effective recipe")
    right.json(record["recipe"])
    st.markdown("#### Provenance")
    st.table(tables.provenance_table(record, PROVENANCE_FIELDS))
    st.download_button(
        "Download predictions (CSV)",
        predictions_csv(board["locations"][run_id], version, run_id),
        file_name=f"{run_id}.csv",
        mime="text/csv",
        key="dl_predictions",
    )


def show_compare(path: str, version: tuple, board: dict, runs: pd.DataFrame) -> None:
    if len(runs) < 2:
        st.info("Comparing needs two runs of this protocol and source.")
        return
    labels = {r["run_id"]: run_label(r) for _, r in runs.iterrows()}
    ids = list(labels)
    a = st.selectbox("Run A", ids, index=0, format_func=labels.get, key="compare_a")
    b = st.selectbox("Run B", ids, index=1, format_func=labels.get, key="compare_b")
    if a == b:
        st.info("Pick two different runs.")
        return
    try:
        result = load_compare(path, version, a, b, board["shipped"])
    except MerBenchError as exc:
        st.error(scrub(str(exc), [path]))
        return
    st.subheader("B minus A (paired bootstrap over subjects)")
    st.table(result)
    row_a = runs.set_index("run_id").loc[a]
    row_b = runs.set_index("run_id").loc[b]
    if row_a["leak_key"] == row_b["leak_key"] and row_a["honest"] != row_b["honest"]:
        test_is_b = not row_b["honest"]
        gap = result["B - A"] * (1 if test_is_b else -1)
        st.warning(
            f"Same configuration under an honest policy and best-on-test: leakage gap "
            f"(best-on-test minus {row_a['selection'] if test_is_b else row_b['selection']}"
            f") UF1 {gap['UF1']:+.4f}, UAR {gap['UAR']:+.4f}."
        )


def main() -> None:
    st.set_page_config(page_title="mer-bench leaderboard", layout="wide")
    st.markdown(CSS, unsafe_allow_html=True)
    st.title("mer-bench leaderboard")
    path = store_path_from(sys.argv, dict(os.environ))
    st.caption(
        f"results database: {display_location(path)} (read only). Every score is "
        "recomputed from stored per-sample predictions."
    )
    shipped = st.sidebar.checkbox(
        "Show mer-bench's reference runs (results/)", value=True, key="shipped"
    )
    file = sqlite_file(path)
    if file is not None and not file.exists():
        message = (
            f"no results database at {file} yet (`mer-bench run ...` or `mer-bench "
            "import FILE` makes one)"
        )
        if not (shipped and reference.reference_sets()):
            st.error(message)
            return
        st.warning(message + "; showing mer-bench's reference runs only.")
    try:
        version = store_version(path)
        board = load_board(str(path), version, shipped)
    except MerBenchError as exc:
        st.error(scrub(str(exc), [path]))
        return
    if board["shipped_error"]:
        st.warning(f"reference runs not shown: {board['shipped_error']}")
    for reason in board.get("damaged", {}).values():
        st.warning(f"left out: {scrub(reason, [path])}")
    runs_all = board["runs"]
    if not len(runs_all):
        st.info("No complete runs yet: `mer-bench run ...` or `mer-bench import FILE`.")
        unranked = board["unranked"]
        if len(unranked):
            st.table(tables.rejected_display({}, runs_all, unranked))
        return
    protocols = sorted(runs_all["protocol"].unique())
    protocol = st.sidebar.selectbox("Protocol", protocols, key="protocol")
    runs_p = runs_all[runs_all["protocol"] == protocol]
    kinds = dict(zip(runs_p["source"], runs_p["data"]))
    # The user's own runs first; sources only the shipped reference runs cover come after.
    own = runs_p[runs_p["origin"] != core.REFERENCE]
    first = core.default_source(own if len(own) else runs_p)
    sources = [first] + sorted(s for s in kinds if s != first)
    source = st.sidebar.selectbox(
        "Source (never ranked together)",
        sources,
        index=0,
        key="source",
        format_func=lambda s: core.source_label(s, kinds[s]),
    )
    with_test = st.sidebar.checkbox(
        "Rank best-on-test runs too (test-selected)", value=False, key="with_test"
    )
    table, problems = load_ranking(str(path), version, protocol, source, shipped)
    runs = ordered_runs(
        runs_p[runs_p["source"] == source], core.ranked(table, with_test), table
    ).reset_index(drop=True)
    ranking_tab, detail_tab, compare_tab = st.tabs(["Ranking", "Run detail", "Compare runs"])
    with ranking_tab:
        show_ranking(protocol, source, kinds[source], table, problems, board, with_test)
    with detail_tab:
        show_detail(str(path), version, board, runs, problems)
    with compare_tab:
        show_compare(str(path), version, board, runs)


main()
