"""The Streamlit board under AppTest, on a database of fixture runs, plus its pure tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from leaderboard_fixtures import fill_store
from streamlit.testing.v1 import AppTest

from mer_bench.store import Store
from mer_bench_leaderboard import tables
from mer_bench_leaderboard.data import open_read_only, predictions_frame, runs_frame

APP = str(Path(__file__).resolve().parents[1] / "leaderboard" / "app.py")


@pytest.fixture(scope="module")
def board_store(tmp_path_factory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("board") / "results.sqlite"
    return path, fill_store(path)


@pytest.fixture()
def app(board_store, monkeypatch) -> AppTest:
    monkeypatch.setenv("MER_BENCH_STORE", str(board_store[0]))
    return AppTest.from_file(APP, default_timeout=60).run()


def _table(at: AppTest, first_column: str):
    for table in at.table:
        if first_column in table.value.columns:
            return table.value
    raise AssertionError(f"no table with column {first_column!r}")


def test_ranking_order_marks_and_seed_aggregation(app):
    assert not app.exception
    ranking = _table(app, "UF1 95% CI")
    assert list(ranking["model"]) == ["good-net", "good-net", "weak-net"]
    assert list(ranking["selection"]) == [tables.TEST_SELECTED_MARK, "fixed", "fixed"]
    assert list(ranking["seeds"]) == ["0", "0,1", "0"]
    assert "±" in ranking["UF1"].iloc[1] and "±" not in ranking["UF1"].iloc[0]
    assert list(ranking["params"]) == ["5,000", "5,000", "1,200"]
    assert {"smic UF1", "casme2 UAR", "samm UF1"} <= set(ranking.columns)
    uf1 = [float(v.split()[0]) for v in ranking["UF1"]]
    assert uf1 == sorted(uf1, reverse=True) and 0.88 < uf1[0] < 0.95 and 0.45 < uf1[2] < 0.56
    for text, mean in zip(ranking["UF1 95% CI"], uf1):
        low, high = (float(v) for v in text.strip("[]").split(","))
        assert low < mean < high


def test_reported_rows_are_separate_and_marked(app):
    ranking = _table(app, "UF1 95% CI")
    reported = _table(app, "kind")
    assert set(reported["kind"]) == {tables.REPORTED_MARK}
    assert reported.loc["HTNet", "UF1"] == "0.8603" and reported.loc["HTNet", "UAR"] == "0.8475"
    assert reported.loc["HTNet", "selection"] == "⚠ test-selected"
    assert reported.loc["STSTNet", "selection"] == "final epoch (own code)"
    assert "HTNet" not in set(ranking["model"]) and len(ranking) == 3
    assert any("not ranked" in s.value for s in app.subheader)


def test_chance_lines_and_leakage_gap(app):
    chance = _table(app, "K")
    assert list(chance["K"]) == [1, 20]  # fixed, and best-on-test with the runs' 20 epochs
    assert chance["UF1"].iloc[0] == pytest.approx(1 / 3, abs=0.03)
    assert 0.55 < chance["UF1"].iloc[1] < 0.72
    gap = _table(app, "UF1 gap")
    assert gap["UF1 gap"].iloc[0] == pytest.approx(
        gap["UF1 best-on-test"].iloc[0] - gap["UF1 fixed"].iloc[0])
    assert 0.1 < gap["UF1 gap"].iloc[0] < 0.2


def test_detail_view_of_a_selected_run(app, board_store):
    path, ids = board_store
    run_id = ids[("weak-net", "fixed", 0)]
    app.selectbox(key="detail_run").set_value(run_id).run()
    assert not app.exception
    assert any(run_id in s.value and "weak-net" in s.value for s in app.subheader)
    confusion = _table(app, "pred negative")
    store = Store(path)
    preds = store.predictions(run_id)
    store.close()
    expected = np.zeros((3, 3), int)
    np.add.at(expected, (preds["label"], preds["pred"]), 1)
    assert (confusion.to_numpy() == expected).all() and confusion.to_numpy().sum() == 442
    classes = _table(app, "recall")
    assert list(classes["support"]) == [250, 109, 83]
    provenance = _table(app, "value")
    assert provenance.loc["run_id", "value"] == run_id
    assert provenance.loc["git_commit", "value"] == "abc123"
    assert any("Confusion matrix" in m.value for m in app.markdown)


def test_detail_warns_on_test_selected_runs(app, board_store):
    run_id = board_store[1][("good-net", "best-on-test", 0)]
    app.selectbox(key="detail_run").set_value(run_id).run()
    assert any("best-on-test" in w.value for w in app.warning)


def test_compare_view_paired_difference_and_leakage(app, board_store):
    ids = board_store[1]
    app.selectbox(key="compare_a").set_value(ids[("good-net", "fixed", 0)])
    app.selectbox(key="compare_b").set_value(ids[("good-net", "best-on-test", 0)]).run()
    assert not app.exception
    result = _table(app, "B - A")
    uf1 = result.loc["UF1"]
    assert uf1["B - A"] == pytest.approx(uf1["B"] - uf1["A"]) and uf1["B - A"] > 0.1
    assert uf1["95% CI low"] > 0 and uf1["p (permutation)"] < 0.01
    assert any("leakage gap" in w.value for w in app.warning)
    app.selectbox(key="compare_b").set_value(ids[("weak-net", "fixed", 0)]).run()
    assert _table(app, "B - A").loc["UF1", "B - A"] < -0.2
    assert not any("leakage gap" in w.value for w in app.warning)


def test_missing_store_shows_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MER_BENCH_STORE", str(tmp_path / "none.sqlite"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("no results database" in e.value for e in at.error)
    assert not (tmp_path / "none.sqlite").exists()  # the board never creates a database


def test_board_only_reads(board_store):
    store = open_read_only(board_store[0])
    with pytest.raises(Exception, match="readonly"), store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM runs")
    with pytest.raises(Exception, match="read-only"):
        store.set_status(store.runs()[0].run_id, "failed")
    store.close()


def test_incomplete_and_failed_runs_are_not_ranked(tmp_path, megc_manifest):
    from leaderboard_fixtures import add_fixture_run
    store = Store(tmp_path / "r.sqlite")
    done = add_fixture_run(store, megc_manifest, "good-net", "fixed", 0, 0.8, 10)
    failed = add_fixture_run(store, megc_manifest, "bad-net", "fixed", 0, 0.8, 10)
    store.set_status(failed, "failed")
    runs = runs_frame(store)
    assert list(runs["run_id"]) == [done]
    preds = {done: predictions_frame(store, done)}
    table = tables.ranking(runs, preds)
    assert list(table["rank"]) == [1] and table["n_seeds"].iloc[0] == 1
    assert np.isnan(table["uf1_sd"].iloc[0])


def test_runs_of_other_data_are_other_rows(tmp_path, megc_manifest):
    """Two configurations that differ only in their data (demo difficulty, flows folder) are two
    rows, never seeds of one."""
    from leaderboard_fixtures import add_fixture_run
    store = Store(tmp_path / "r.sqlite")
    a0 = add_fixture_run(store, megc_manifest, "good-net", "fixed", 0, 0.8, 10, source="demo",
                         data={"difficulty": "standard"})
    a1 = add_fixture_run(store, megc_manifest, "good-net", "fixed", 1, 0.8, 10, source="demo",
                         data={"difficulty": "standard"})
    hard = add_fixture_run(store, megc_manifest, "good-net", "fixed", 0, 0.6, 10, source="demo",
                           data={"difficulty": "hard"})
    runs = runs_frame(store)
    table = tables.ranking(runs, {r: predictions_frame(store, r) for r in runs["run_id"]})
    rows = {tuple(sorted(ids.split())): n for ids, n in zip(table["run_ids"], table["n_seeds"])}
    assert rows == {tuple(sorted((a0, a1))): 2, (hard,): 1}
