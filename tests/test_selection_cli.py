"""The selection flags of `mer-bench run` and what `show` draws: one-line errors with exit code 2
before any training, a stored val-subjects run and its chosen epochs."""

from __future__ import annotations

import json

import pytest

from mer_bench.cli.selection_view import epoch_histogram, sparkline
from mer_bench.results.store import Store
from test_cli import cli


def _run(tiny_model, flows_dir, store, *args):
    return [
        "run",
        "--model",
        tiny_model,
        "--source",
        "flows",
        "--data-root",
        str(flows_dir),
        "--store",
        str(store),
        "--device",
        "cpu",
        "--quiet",
        *args,
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--selection", "nestd"], "unknown selection policy 'nestd'; did you mean nested"),
        (
            ["--selection", "nested", "--inner-folds", "1"],
            "--inner-folds must be an integer of at least 2",
        ),
        (
            ["--selection", "nested", "--grid", "lrr=1e-4"],
            "--grid recipe field 'lrr' is unknown; did you mean lr",
        ),
        (
            ["--selection", "fixed", "--inner-folds", "3"],
            "--inner-folds does not apply to --selection fixed",
        ),
        (
            ["--selection", "nested", "--val-share", "0.2"],
            "--val-share does not apply to --selection nested",
        ),
        (["--selection", "val-subjects", "--grid", "epochs=3,5"], "not a grid field"),
        (["--selection", "val-subjects", "--grid", "batch_size=0,8"], "out of range"),
        (["--seeds", "3-1"], "runs backwards"),
        (["--seeds", "0-2", "--seed", "4"], "give --seed or --seeds, not both"),
        (
            ["--selection", "nested", "--inner-folds", "68"],
            "--inner-folds 68 is more than the 67 training subjects of fold",
        ),
    ],
)
def test_bad_selection_options_exit_2_with_one_line_before_training(
    args, message, tiny_model, flows_dir, tmp_path, capsys
):
    store = tmp_path / "r.sqlite"
    code, _, err = cli(_run(tiny_model, flows_dir, store, *args), capsys)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    if store.exists():
        with Store(store) as s:
            assert s.runs() == []  # nothing was started


def test_val_subjects_run_stores_each_folds_choice_and_show_draws_it(
    tiny_model, flows_dir, tmp_path, capsys
):
    store = str(tmp_path / "r.sqlite")
    summary_path = tmp_path / "s.json"
    code, out, err = cli(
        _run(
            tiny_model,
            flows_dir,
            store,
            "--selection",
            "val-subjects",
            "--epochs",
            "2",
            "--executor",
            "sequential",
            "--grid",
            "lr=1e-2,1e-3",
            "--json",
            str(summary_path),
        ),
        capsys,
    )
    assert code == 0, err
    run_id = json.loads(summary_path.read_text())["run_id"]
    code, out, _ = cli(["show", run_id, "--store", store, "--json"], capsys)
    shown = json.loads(out)
    assert shown["identity"]["selection_options"] == {
        "grid": {"lr": [0.01, 0.001]},
        "val_share": 0.15,
    }
    assert len(shown["folds"]) == 68
    for fold in shown["folds"]:
        record = fold["selection"]
        assert record["chosen_epoch"] == fold["selected_epoch"] and 1 <= fold["selected_epoch"] <= 2
        assert record["grid_point"] in ({"lr": 0.01}, {"lr": 0.001})
        assert len(record["scores"]) == 2 and all(len(s) == 2 for s in record["scores"])
        point = record["grid_points"].index(record["grid_point"])
        assert max(record["scores"][point]) == max(max(s) for s in record["scores"])
        # the held-out subject never validates; 67 training subjects at 15 % give 10
        assert fold["fold"] not in record["val_subjects"] and len(record["val_subjects"]) == 10
    code, out, _ = cli(["show", run_id, "--store", store], capsys)
    assert code == 0 and "chosen epochs (68 folds, val-subjects, at most 2)" in out
    assert "selection val-subjects: grid lr=0.01,0.001, val_share 0.15" in out
    counts = {e: shown["chosen_epochs"].count(e) for e in set(shown["chosen_epochs"])}
    for epoch, n in counts.items():
        assert any(
            line.strip().startswith(f"{epoch} |") and line.rstrip().endswith(f" {n}")
            for line in out.splitlines()
        )
    assert "what each fold chose: validation UF1" in out and "10 validation subjects" in out


def test_epoch_histogram_and_sparkline():
    assert epoch_histogram([3, 1, 3, 3]) == [
        "1 | " + "█" * 10 + " " * 20 + " 1",
        "3 | " + "█" * 30 + " 3",
    ]
    lines = epoch_histogram(list(range(1, 101)), maximum=100)
    assert len(lines) == 12 and lines[0].startswith("  1-9 |") and lines[-1].endswith(" 1")
    assert sparkline([0.0, 0.5, 1.0]) == "▁▅█" and len(sparkline(list(range(100)))) == 40
    assert sparkline([0.3, 0.3]) == "▁▁"
