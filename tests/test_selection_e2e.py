"""End to end: `mer-bench run --model ststnet --protocol megc2019 --source demo --selection nested
--seeds 0-2` on a small demo, stored as one experiment of three runs, shown by `show`."""

from __future__ import annotations

import json

import pytest

from test_cli import cli

pytestmark = pytest.mark.slow


def test_nested_over_three_seeds_on_the_demo_is_stored_and_shown(tmp_path, capsys):
    store = str(tmp_path / "r.sqlite")
    summary_path = tmp_path / "experiment.json"
    code, out, err = cli(
        [
            "run",
            "--model",
            "ststnet",
            "--protocol",
            "megc2019",
            "--source",
            "demo",
            "--demo-subjects",
            "4",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--selection",
            "nested",
            "--inner-folds",
            "3",
            "--seeds",
            "0-2",
            "--epochs",
            "2",
            "--device",
            "cpu",
            "--store",
            store,
            "--json",
            str(summary_path),
            "--quiet",
        ],
        capsys,
    )
    assert code == 0, err
    result = json.loads(summary_path.read_text())
    assert result["seeds"] == [0, 1, 2] and result["n_seeds"] == 3
    assert result["selection"] == "nested" and len(result["runs"]) == 3
    assert "nested" in out and "95 % CI (subject bootstrap)" in out

    code, listed, _ = cli(["results", "--store", store, "--json"], capsys)
    runs = json.loads(listed)
    assert sorted(r["seed"] for r in runs) == [0, 1, 2]
    assert {r["experiment_id"] for r in runs} == {result["experiment_id"]}
    assert len({r["group_hash"] for r in runs}) == 1 and all(
        r["status"] == "finished" for r in runs
    )

    run_id = result["runs"][0]["run_id"]
    code, shown, _ = cli(["show", run_id, "--store", store, "--json"], capsys)
    shown = json.loads(shown)
    assert shown["identity"]["selection_options"] == {"grid": {}, "inner_folds": 3}
    assert len(shown["folds"]) == 4  # one per demo subject
    for fold in shown["folds"]:
        record = fold["selection"]
        assert record["inner_folds"] == 3 and len(record["scores"][0]) == 2
        assert record["chosen_epoch"] == fold["selected_epoch"] in (1, 2)
        flat = [s for group in record["inner_subjects"] for s in group]
        assert len(flat) == 3 and fold["fold"] not in flat
    code, text, _ = cli(["show", run_id, "--store", store], capsys)
    assert code == 0 and "chosen epochs (4 folds, nested, at most 2)" in text
    assert "what each fold chose: mean inner UF1" in text and "3 inner folds" in text
