"""The Streamlit board under AppTest, on a database of fixture runs, plus its pure tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from leaderboard_fixtures import fill_store
from streamlit.testing.v1 import AppTest

from mer_bench.results.store import Store
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


def test_ranking_shows_honest_configurations_of_real_data(app):
    assert not app.exception
    ranking = _table(app, "UF1 95% CI")
    assert list(ranking["model"]) == ["good-net", "weak-net"]  # honest, real data, complete
    assert list(ranking["selection"]) == ["fixed", "fixed"]
    assert list(ranking["seed ids"]) == ["0,1", "0"] and list(ranking["view"]) == ["flow28"] * 2
    assert "±" in ranking["UF1"].iloc[0] and "±" not in ranking["UF1"].iloc[1]
    assert list(ranking["params"]) == ["5,000", "1,200"] and list(ranking["epochs"]) == ["20", "20"]
    assert {"smic UF1", "casme2 UAR", "samm UF1"} <= set(ranking.columns)
    uf1 = [float(v.split()[0]) for v in ranking["UF1"]]
    assert uf1 == sorted(uf1, reverse=True) and 0.74 < uf1[0] < 0.84 and 0.45 < uf1[1] < 0.56
    for text, mean in zip(ranking["UF1 95% CI"], uf1):
        low, high = (float(v) for v in text.strip("[]").split(","))
        assert low < mean < high
    # each row beside the chance of its own rule (fixed: one draw), from its own labels
    assert all(abs(float(v) - 1 / 3) < 0.03 for v in ranking["chance UF1 (its rule)"])
    assert any("flows (real data)" in s.value for s in app.subheader)


def test_best_on_test_joins_the_ranking_only_when_asked(app):
    app.checkbox(key="with_test").check().run()
    assert not app.exception
    ranking = _table(app, "UF1 95% CI")
    assert list(ranking["model"]) == ["good-net", "good-net", "weak-net"]
    assert list(ranking["selection"]) == [tables.TEST_SELECTED_MARK, "fixed", "fixed"]
    chance = [float(v) for v in ranking["chance UF1 (its rule)"]]
    assert 0.55 < chance[0] < 0.72 and abs(chance[1] - 1 / 3) < 0.03  # best of 20 vs one draw
    assert "zero-epoch-net" not in set(ranking["model"])


def test_reported_rows_are_separate_and_marked(app):
    ranking = _table(app, "UF1 95% CI")
    reported = _table(app, "kind")
    assert set(reported["kind"]) == {tables.REPORTED_MARK}
    assert reported.loc["HTNet", "UF1"] == "0.8603" and reported.loc["HTNet", "UAR"] == "0.8475"
    assert reported.loc["HTNet", "selection"] == "⚠ test-selected"
    assert reported.loc["STSTNet", "selection"] == "final epoch (own code)"
    assert "HTNet" not in set(ranking["model"]) and len(ranking) == 2
    assert any("not ranked" in s.value for s in app.subheader)


def test_policies_side_by_side_with_the_chance_of_each_rule(app, board_store):
    side = _table(app, "UF1 chance of its rule")
    good = side.loc["good-net"]
    assert list(good["selection"]) == ["fixed", tables.TEST_SELECTED_MARK]
    fixed_uf1, test_uf1 = (float(v) for v in good["UF1"])
    fixed_chance, test_chance = (float(v) for v in good["UF1 chance of its rule"])
    assert abs(fixed_chance - 1 / 3) < 0.03 and 0.55 < test_chance < 0.72
    assert float(good["UF1 above chance"].iloc[0]) == pytest.approx(
        fixed_uf1 - fixed_chance, abs=2e-4
    )
    assert float(good["UF1 leak (vs best honest)"].iloc[1]) == pytest.approx(
        test_uf1 - fixed_uf1, abs=2e-4
    )
    assert 0.1 < test_uf1 - fixed_uf1 < 0.2
    assert list(good["chance rule"]) == ["fixed-selection chance", "best-of-20 chance"]
    assert any("val-subjects and nested" in c.value for c in app.caption)
    chance = _table(app, "K")
    assert list(chance["K"]) == [1, 20]


def test_runs_that_cannot_be_ranked_are_listed_with_their_reason(app, board_store):
    ids = board_store[1]
    rejected = _table(app, "why not ranked")
    zero = rejected.loc[ids[("zero-epoch-net", "best-on-test", 0)], "why not ranked"]
    assert "0 epochs" in zero and "no epoch to choose from" in zero
    stopped = rejected.loc[ids[("stopped-net", "fixed", 0)]]
    assert stopped["why not ranked"] == "incomplete: 5/68 folds stored"
    assert stopped["status"].startswith("interrupted")
    assert ids[("demo-net", "fixed", 0)] not in rejected.index  # ranked, on its own source


def test_demo_runs_are_ranked_apart_with_their_own_chance(app, board_store, megc_manifest):
    from leaderboard_fixtures import demo_samples
    from mer_bench.results import ranking as core

    app.selectbox(key="source").set_value("demo").run()
    assert not app.exception
    ranking = _table(app, "UF1 95% CI")
    assert list(ranking["model"]) == ["demo-net"] and list(ranking["source"]) == ["demo"]
    assert any("synthetic demo data" in s.value for s in app.subheader)
    assert any("not comparable" in i.value for i in app.info)
    assert not any("Reported in papers" in s.value for s in app.subheader)
    demo = demo_samples().sort_values(["dataset", "subject", "sample"])
    groups = (demo["dataset"] + ":" + demo["subject"]).to_numpy()
    expected = core.chance_of(demo["label"].to_numpy(), groups, 3, 1)[0]["uf1"]
    assert float(ranking["chance UF1 (its rule)"].iloc[0]) == pytest.approx(expected, abs=1e-4)
    # best of 20 draws: the demo's 12 subjects of about 12 samples each, not the real list's 68
    real = megc_manifest.sort_values(["dataset", "subject", "sample"])
    real_20 = core.chance_of(
        real["label"].to_numpy(), (real["dataset"] + ":" + real["subject"]).to_numpy(), 3, 20
    )[0]["uf1"]
    demo_20 = core.chance_of(demo["label"].to_numpy(), groups, 3, 20)[0]["uf1"]
    side = _table(app, "UF1 chance of its rule").loc["demo-net"]
    assert list(side["selection"]) == ["fixed", tables.TEST_SELECTED_MARK]
    assert float(side["UF1 chance of its rule"].iloc[1]) == pytest.approx(demo_20, abs=1e-4)
    assert real_20 - demo_20 > 0.03  # its own labels, not the first run's


def test_detail_opens_on_the_top_ranked_run(app, board_store):
    ids = board_store[1]
    assert app.selectbox(key="detail_run").value == ids[("good-net", "fixed", 0)]
    assert any("Chosen epochs" in m.value for m in app.markdown)


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
    assert provenance.loc["provenance.manifest_version", "value"] == "megc2019-cde-442"
    assert not any(v.startswith("{") for v in provenance["value"])  # no dictionary strings
    assert any("Confusion matrix" in m.value for m in app.markdown)


def test_chosen_epochs_of_a_best_on_test_run(app, board_store):
    path, ids = board_store
    run_id = ids[("good-net", "best-on-test", 0)]
    app.selectbox(key="detail_run").set_value(run_id).run()
    assert not app.exception
    store = Store(path)
    folds = store.folds(run_id)
    store.close()
    chosen = tables.chosen_epochs(folds)
    assert chosen["folds"].sum() == 68 and set(chosen["epoch"]) <= set(range(1, 21))
    expected = folds["selected_epoch"].value_counts()
    assert dict(zip(chosen["epoch"], chosen["folds"])) == {
        int(k): int(v) for k, v in expected.items()
    }
    assert any("epoch kept by each of 68 folds" in c.value for c in app.caption)


def test_detail_of_a_run_that_cannot_be_ranked(app, board_store):
    run_id = board_store[1][("zero-epoch-net", "best-on-test", 0)]
    app.selectbox(key="detail_run").set_value(run_id).run()
    assert not app.exception
    assert any("no epoch to choose from" in e.value for e in app.error)


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
    a0 = add_fixture_run(
        store,
        megc_manifest,
        "good-net",
        "fixed",
        0,
        0.8,
        10,
        source="demo",
        data={"difficulty": "standard"},
    )
    a1 = add_fixture_run(
        store,
        megc_manifest,
        "good-net",
        "fixed",
        1,
        0.8,
        10,
        source="demo",
        data={"difficulty": "standard"},
    )
    hard = add_fixture_run(
        store,
        megc_manifest,
        "good-net",
        "fixed",
        0,
        0.6,
        10,
        source="demo",
        data={"difficulty": "hard"},
    )
    runs = runs_frame(store)
    table = tables.ranking(runs, {r: predictions_frame(store, r) for r in runs["run_id"]})
    rows = {tuple(sorted(ids.split())): n for ids, n in zip(table["run_ids"], table["n_seeds"])}
    assert rows == {tuple(sorted((a0, a1))): 2, (hard,): 1}


def test_estimators_show_no_epochs_or_parameters(tmp_path, megc_manifest):
    from leaderboard_fixtures import add_fixture_run

    store = Store(tmp_path / "r.sqlite")
    add_fixture_run(
        store, megc_manifest, "svm-like", "fixed", 0, 0.7, 0, epochs=0, framework="estimator"
    )
    runs = runs_frame(store)
    assert runs["problem"].isna().all()  # 0 epochs is what an estimator has: rankable
    shown = tables.ranking_display(
        tables.ranking(runs, {r: predictions_frame(store, r) for r in runs["run_id"]})
    )
    assert list(shown["epochs"]) == [tables.EMPTY] and list(shown["params"]) == [tables.EMPTY]


def test_a_run_whose_predictions_cannot_be_scored_is_set_aside(tmp_path, megc_manifest):
    from leaderboard_fixtures import add_fixture_run

    store = Store(tmp_path / "r.sqlite")
    good = add_fixture_run(store, megc_manifest, "good-net", "fixed", 0, 0.8, 10)
    bad = add_fixture_run(store, megc_manifest, "odd-net", "fixed", 0, 0.8, 10)
    runs = runs_frame(store)
    preds = {r: predictions_frame(store, r) for r in runs["run_id"]}
    preds[bad].loc[0, "label"] = 7  # a label outside the protocol's three classes
    problems: dict[str, str] = {}
    table = tables.ranking(runs, preds, problems=problems)
    assert list(table["run_ids"]) == [good]
    assert problems == {bad: "cannot be scored: label outside the 3 classes"}


def test_default_source_is_real_data_when_there_is_any():
    import pandas as pd
    from mer_bench.results.ranking import default_source

    runs = pd.DataFrame(
        {"source": ["demo", "demo", "demo", "flows"], "data": ["synthetic"] * 3 + ["real"]}
    )
    assert default_source(runs) == "flows"
    assert default_source(runs[runs["source"] == "demo"]) == "demo"


def test_confusion_numbers_are_light_on_dark_cells():
    import pandas as pd
    from mer_bench_leaderboard.charts import confusion_chart

    spec = confusion_chart(
        pd.DataFrame([[90, 2], [5, 40]], index=["true a", "true b"], columns=["pred a", "pred b"])
    ).to_dict()
    text = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "text")
    color = text["encoding"]["color"]
    assert color["condition"]["value"] == "white" and color["value"] == "black"
    assert "45" in color["condition"]["test"]  # half the largest count


def test_the_board_is_launched_with_a_viewers_toolbar():
    """No Deploy button: `mer-bench leaderboard` passes client.toolbarMode=viewer, and
    Streamlit's own command-line parser reads it as that option."""
    from streamlit import config
    from streamlit.web import cli as streamlit_cli

    from mer_bench.cli.leaderboard_cmd import streamlit_command

    command = streamlit_command("/tmp/results.sqlite", 8765, "127.0.0.1")
    run = command.index("run")
    assert command[run - 2 : run] == ["-m", "streamlit"]
    parsed = streamlit_cli.main_run.make_context("run", command[run + 1 :]).params
    assert parsed["client_toolbarMode"] == "viewer"
    assert parsed["server_port"] == 8765 and parsed["server_headless"] is True
    assert '"viewer"' in config._config_options_template["client.toolbarMode"].description
