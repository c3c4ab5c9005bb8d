"""Seeds as one experiment: parsing `--seeds`, one stored run per seed sharing the experiment id,
the summary over seeds (recomputed from the stored predictions), and resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import TINY
from mer_bench.run.engine import RunConfig
from mer_bench.core.errors import MerBenchError, RunInterrupted, UsageError
from mer_bench.run.experiment import (
    experiment_runs,
    parse_seeds,
    run_experiment,
    summarize_experiment,
)
from mer_bench.data.sources import source_options
from mer_bench.results.stats import bootstrap_ci
from mer_bench.results.store import Store
from test_cli import cli

pytestmark = pytest.mark.usefixtures("one_thread")


def test_parse_seeds():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("0,1,2") == [0, 1, 2]
    assert parse_seeds(" 3 , 0-1,7") == [3, 0, 1, 7]
    assert parse_seeds("5") == [5]
    for bad, message in (
        ("0-", "ranges like 0-4"),
        ("-1", "ranges like 0-4"),
        ("a", "0,1,2"),
        ("4-2", "runs backwards"),
        ("0-2,1", "twice"),
        ("0-200", "at most 100"),
    ):
        with pytest.raises(UsageError, match=message):
            parse_seeds(bad)


class StoppingStore(Store):
    """Commits folds until `limit` have been added in all, then raises KeyboardInterrupt."""

    def __init__(self, path, limit: int | None = None) -> None:
        super().__init__(path)
        self.limit, self.added = limit, []

    def add_fold(self, run_id, record) -> None:
        super().add_fold(run_id, record)
        self.added.append((run_id, record.fold_index))
        if self.limit is not None and len(self.added) >= self.limit:
            raise KeyboardInterrupt


def _config(flows_dir, **changes) -> RunConfig:
    values = dict(
        model=TINY,
        protocol="megc2019",
        source="flows",
        device="cpu",
        executor="sequential",
        epochs=1,
        source_options=source_options("flows", data_root=flows_dir),
    )
    return RunConfig(**{**values, **changes})


def test_an_interrupted_experiment_resumes_unfinished_and_missing_seeds(
    tiny_model, flows_dir, store_path
):
    config = _config(flows_dir)
    first = StoppingStore(store_path, limit=68 + 5)  # seed 0 whole, 5 folds of seed 1
    with pytest.raises(RunInterrupted):  # Ctrl-C, as the engine reports it
        run_experiment(config, [0, 1, 2], first)
    runs = first.runs()
    assert [r.seed for r in runs] == [0, 1] and [r.status for r in runs] == [
        "finished",
        "interrupted",
    ]
    experiment_id = runs[0].experiment_id
    assert experiment_id.startswith("exp-") and runs[1].experiment_id == experiment_id
    first.close()

    # Only seeds 0 and 1 are stored: resuming with --seeds names the planned three.
    second = StoppingStore(store_path)
    summary = run_experiment(config, [0, 1, 2], second, resume=experiment_id[:12])
    added_by_run: dict[str, int] = {}
    for run_id, _ in second.added:
        added_by_run[run_id] = added_by_run.get(run_id, 0) + 1
    runs = experiment_runs(second, experiment_id)
    assert [r.seed for r in runs] == [0, 1, 2] and all(r.status == "finished" for r in runs)
    assert runs[0].run_id not in added_by_run  # finished: left alone
    assert added_by_run[runs[1].run_id] == 68 - 5  # resumed: only its missing folds
    assert added_by_run[runs[2].run_id] == 68  # missing: started
    assert len({r.group_hash for r in runs}) == 1 and len({r.config_hash for r in runs}) == 3

    # The summary: per-seed pooled scores, their mean and sd, the seed-mean interval.
    assert summary.seeds == [0, 1, 2] and all(summary.complete)
    uf1 = [s.report.pooled.values["uf1"] for s in summary.runs]
    assert summary.spread["uf1"].mean == pytest.approx(np.mean(uf1))
    assert summary.spread["uf1"].sd == pytest.approx(np.std(uf1, ddof=1))
    tables = [
        second.predictions(r.run_id).sort_values(["dataset", "subject", "sample"]) for r in runs
    ]
    groups = (tables[0]["dataset"] + ":" + tables[0]["subject"]).to_numpy()
    expected = bootstrap_ci(
        tables[0]["label"].to_numpy(),
        [t["pred"].to_numpy() for t in tables],
        groups,
        3,
        n_resamples=1000,
        seed=0,
    )
    assert summary.interval["uar"] == expected["uar"]
    assert summary.interval["uf1"].low <= summary.spread["uf1"].mean <= summary.interval["uf1"].high
    row = summary.as_dict()
    assert row["n_seeds"] == 3 and row["ci95"]["uf1"] == [expected["uf1"].low, expected["uf1"].high]

    # Another configuration cannot resume it; leaving out a stored seed is an error too.
    with pytest.raises(UsageError, match="another configuration.*recipe.epochs: 2 vs 1"):
        run_experiment(_config(flows_dir, epochs=2), None, second, resume=experiment_id)
    with pytest.raises(UsageError, match="--seeds leaves out 2"):
        run_experiment(config, [0, 1], second, resume=experiment_id)
    with pytest.raises(MerBenchError, match="no experiment 'exp-nope'"):
        summarize_experiment(second, "exp-nope")
    second.close()


def test_cli_seeds_print_mean_sd_and_interval_and_resume_by_experiment_id(
    tiny_model, flows_dir, tmp_path, capsys
):
    store = str(tmp_path / "r.sqlite")
    out_json = tmp_path / "e.json"
    base = [
        "run",
        "--model",
        tiny_model,
        "--source",
        "flows",
        "--data-root",
        str(flows_dir),
        "--epochs",
        "1",
        "--executor",
        "sequential",
        "--device",
        "cpu",
        "--store",
        store,
        "--quiet",
    ]
    code, out, err = cli([*base, "--seeds", "0,1", "--json", str(out_json)], capsys)
    assert code == 0, err
    result = json.loads(out_json.read_text())
    assert result["seeds"] == [0, 1] and result["n_seeds"] == 2
    mean, sd = result["mean"]["uf1"], result["sd"]["uf1"]
    assert f"{mean:.4f} ± {sd:.4f}" in out and "95 % CI (subject bootstrap)" in out
    low, high = result["ci95"]["uf1"]
    assert f"[{low:.4f}, {high:.4f}]" in out
    # resuming a finished experiment trains nothing and prints the same numbers
    code, again, err = cli([*base, "--resume", result["experiment_id"]], capsys)
    assert code == 0, err
    assert f"{mean:.4f} ± {sd:.4f}" in again
    code, listed, _ = cli(["results", "--store", store, "--json"], capsys)
    rows = json.loads(listed)
    assert len(rows) == 2 and {r["experiment_id"] for r in rows} == {result["experiment_id"]}
