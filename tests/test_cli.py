"""The command line: listing, unknown names, run --json, results/show/export, score."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from _cli import cli


def test_list_protocols_json(capsys):
    code, out, _ = cli(["list", "protocols", "--json"], capsys)
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and rows["megc2019"]["classes"] == ["negative", "positive", "surprise"]
    assert rows["megc2019"]["origin"] == "mer-bench"  # found through the entry point


def test_list_models_shows_each_models_module(capsys):
    code, out, _ = cli(["list", "models", "--json"], capsys)
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and rows["htnet"]["module"] == "mer_bench_htnet.cards"
    assert rows["ststnet"]["module"] == "mer_bench_baselines.ststnet"
    code, out, _ = cli(["list", "models"], capsys)
    assert "mer_bench_baselines.svm_hoof" in out
    for kind in ("sources", "executors", "policies", "datasets"):
        code, out, _ = cli(["list", kind, "--json"], capsys)
        assert code == 0 and all(r["origin"] == "mer-bench" for r in json.loads(out))


def test_check_command_reports_each_check(capsys):
    code, out, _ = cli(["check", "ststnet", "--json"], capsys)
    checks = {c["name"]: c for c in json.loads(out)}
    assert code == 0 and checks["parameter count equals the card's"]["detail"] == "1,683 parameters"
    assert checks["trains stacked (vmap, fold-parallel)"]["required"] is False


def test_unknown_names_exit_2_with_suggestion(capsys, tmp_path):
    code, _, err = cli(["run", "--model", "htnte", "--store", str(tmp_path / "s.sqlite")], capsys)
    assert code == 2 and err.count("\n") == 1 and "unknown model 'htnte'" in err
    code, _, err = cli(["score", str(tmp_path / "p.csv"), "--protocol", "megc2091"], capsys)
    assert code == 2 and "did you mean megc2019" in err


def test_run_json_results_show_export(tiny_model, flows_dir, tmp_path, capsys):
    store = str(tmp_path / "r.sqlite")
    summary_path = tmp_path / "summary.json"
    code, out, err = cli(
        [
            "run",
            "--model",
            tiny_model,
            "--source",
            "flows",
            "--data-root",
            str(flows_dir),
            "--epochs",
            "2",
            "--store",
            store,
            "--json",
            str(summary_path),
            "--quiet",
            "--device",
            "cpu",
        ],
        capsys,
    )
    assert code == 0, err
    summary = json.loads(summary_path.read_text())
    assert {
        "run_id",
        "model",
        "protocol",
        "source",
        "selection",
        "epochs",
        "seed",
        "uf1",
        "uar",
        "per_dataset",
        "n_samples",
        "n_subjects",
        "seconds",
    } <= set(summary)
    assert summary["n_samples"] == 442 and summary["n_subjects"] == 68 and summary["epochs"] == 2
    assert set(summary["per_dataset"]) == {"smic", "casme2", "samm"}
    assert f"{summary['uf1']:.4f}" in out and "fixed" in out

    code, out, _ = cli(["results", "--store", store], capsys)
    assert code == 0 and summary["run_id"] in out and f"{summary['uf1']:.4f}" in out
    code, out, _ = cli(["show", summary["run_id"][:17], "--store", store], capsys)
    assert code == 0 and "confusion" in out and f"{summary['uar']:.4f}" in out

    # the same fields for scripts
    code, out, _ = cli(["results", "--store", store, "--json"], capsys)
    (row,) = json.loads(out)
    assert code == 0 and row["run_id"] == summary["run_id"] and row["model"] == tiny_model
    assert (row["protocol"], row["source"], row["view"], row["selection"], row["seed"]) == (
        "megc2019",
        "flows",
        "flow28",
        "fixed",
        0,
    )
    assert row["status"] == "finished" and (row["folds_done"], row["folds_total"]) == (68, 68)
    assert row["scores"]["uf1"] == pytest.approx(summary["uf1"])
    assert row["scores"]["per_dataset"]["samm"]["uar"] == pytest.approx(
        summary["per_dataset"]["samm"]["uar"]
    )
    code, out, _ = cli(["show", summary["run_id"], "--store", store, "--json"], capsys)
    shown = json.loads(out)
    assert {k: shown[k] for k in row} == row
    assert shown["chosen_epochs"] == [2] * 68 and len(shown["folds"]) == 68
    assert shown["identity"]["recipe"]["epochs"] == 2

    csv_path, json_path = tmp_path / "run.csv", tmp_path / "run.json"
    assert (
        cli(
            ["export", summary["run_id"], "--format", "csv", "-o", str(csv_path), "--store", store],
            capsys,
        )[0]
        == 0
    )
    assert (
        cli(
            [
                "export",
                summary["run_id"],
                "--format",
                "json",
                "-o",
                str(json_path),
                "--store",
                store,
            ],
            capsys,
        )[0]
        == 0
    )
    table = pd.read_csv(csv_path)
    assert len(table) == 442 and {"p_negative", "p_positive", "p_surprise"} <= set(table.columns)
    exported = json.loads(json_path.read_text())
    assert len(exported["predictions"]) == 442 and exported["recipe"]["epochs"] == 2

    # the exported predictions score to the same numbers through `score`
    scored = tmp_path / "scored.json"
    code, _, err = cli(["score", str(csv_path), "--json", str(scored), "--device", "cpu"], capsys)
    assert code == 0, err
    rescored = json.loads(scored.read_text())
    assert rescored["uf1"] == pytest.approx(summary["uf1"]) and rescored["uar"] == pytest.approx(
        summary["uar"]
    )
    for name, scores in summary["per_dataset"].items():
        assert rescored["per_dataset"][name] == pytest.approx(scores)


def test_run_without_data_says_what_is_missing(capsys, tiny_model, tmp_path):
    code, _, err = cli(
        ["run", "--model", tiny_model, "--source", "flows", "--store", str(tmp_path / "s.sqlite")],
        capsys,
    )
    assert code != 0 and "--data-root" in err and "--source demo" in err


def test_raw_source_without_datasets_points_to_the_demo(
    capsys, tiny_model, tmp_path, no_dataset_env
):
    code, _, err = cli(
        [
            "run",
            "--model",
            tiny_model,
            "--source",
            "raw",
            "--store",
            str(tmp_path / "s.sqlite"),
            "--quiet",
        ],
        capsys,
    )
    assert code == 3 and err.count("\n") == 1
    assert "no folder for dataset" in err and "--data-root" in err and "--source demo" in err
