"""The ETA: a short timed trial before training, a line before long runs, stored on the run."""

from __future__ import annotations

import logging

import pytest

from mer_bench.run import eta
from mer_bench.run.engine import RunConfig, prepare_run, run_benchmark
from mer_bench.run.eta import duration, estimate_run, eta_line
from mer_bench.data.sources import source_options
from mer_bench.results.store import Store
from mer_bench.run.training import batch_slices

pytestmark = pytest.mark.usefixtures("one_thread")


def test_durations_read_as_people_say_them():
    assert duration(4) == "about 4 seconds"
    assert duration(250) == "about 4 minutes"
    assert duration(3 * 86400 + 10) == "about 3 days"
    assert duration(5400) == "about 2 hours"


def _config(tiny_model, flows_dir, **kw):
    return RunConfig(
        model=tiny_model,
        protocol="megc2019",
        source="flows",
        device="cpu",
        source_options=source_options("flows", data_root=flows_dir),
        **kw,
    )


def test_estimate_counts_every_training_step(tiny_model, flows_dir):
    run = prepare_run(_config(tiny_model, flows_dir, executor="sequential", epochs=5))
    estimate = estimate_run(run)
    expected = sum(len(batch_slices(len(t.fold.train_idx), 64)) * 5 for t in run.tasks)
    assert estimate.steps == expected == 68 * 7 * 5
    assert estimate.parallel == 1 and estimate.step_seconds > 0
    assert estimate.seconds == pytest.approx(estimate.steps * estimate.step_seconds)
    local = estimate_run(prepare_run(_config(tiny_model, flows_dir, workers=2, epochs=5)))
    assert local.parallel == 2 and local.seconds > eta.WORKER_START_S


def test_long_cpu_runs_name_faster_options(tiny_model, flows_dir, monkeypatch):
    run = prepare_run(_config(tiny_model, flows_dir, executor="sequential", epochs=800))
    estimate = estimate_run(run)
    assert estimate.shorter_epochs is not None or estimate.seconds <= 10 * eta.SHORT_RUN_S
    fake = eta.Estimate(
        seconds=3 * 86400,
        step_seconds=1.0,
        steps=10,
        parallel=1,
        executor="local",
        gpu_seconds=540.0,
        shorter_epochs=2,
        shorter_seconds=290.0,
    )
    line = eta_line(run, fake)
    assert line.startswith(
        f"{tiny_model} (recipe as given), 68 folds x 800 epochs: about 3 days on this CPU"
    )
    assert "about 9 minutes with --device cuda --executor fold-parallel on one H100" in line
    assert line.endswith("--epochs 2: about 5 minutes")


def test_the_estimate_is_said_and_stored_beside_the_measured_time(
    tiny_model, flows_dir, store_path, caplog, monkeypatch
):
    monkeypatch.setattr(eta, "SAY_ABOVE_S", 0.0)
    monkeypatch.setattr("mer_bench.run.engine.SAY_ABOVE_S", 0.0)
    with caplog.at_level(logging.INFO, logger="mer_bench"), Store(store_path) as store:
        summary = run_benchmark(
            _config(tiny_model, flows_dir, executor="sequential", epochs=1), store
        )
        run = store.run(summary.run_id)
    assert f"{tiny_model} (recipe as given), 68 folds x 1 epochs:" in caplog.text
    assert run.estimated_seconds > 0 and run.wall_seconds > 0
    assert run.provenance["estimate"]["steps"] == 68 * 7
    assert run.provenance["estimate"]["measured_seconds"] > 0
