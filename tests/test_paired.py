"""`--paired best-on-test`: the legacy rule concluded from a fixed run's own trained models, so
the leak is measured on the same models, at the cost of one training."""

from __future__ import annotations

import numpy as np
import pytest

import mer_bench.run.executors.base as executors
from mer_bench.core.errors import RunInterrupted, UsageError
from mer_bench.data.sources import source_options
from mer_bench.results.store import Store
from mer_bench.run.engine import RunConfig, run_benchmark


def config(model: str, root, **kw) -> RunConfig:
    return RunConfig(
        model=model,
        protocol="megc2019",
        source="flows",
        device="cpu",
        executor="sequential",
        epochs=3,
        source_options=source_options("flows", data_root=root),
        **kw,
    )


def probs(store: Store, run_id: str) -> np.ndarray:
    table = store.predictions(run_id).sort_values(["dataset", "subject", "sample"])
    return np.array(table["probs"].tolist())


def test_a_paired_run_is_the_run_each_policy_makes_alone(tiny_model, flows_dir, store_path):
    store = Store(store_path)
    fixed = run_benchmark(config(tiny_model, flows_dir, paired=("best-on-test",)), store)
    pair = store.run(fixed.run_id).provenance["paired_runs"]["best-on-test"]
    paired = store.run(pair)
    assert paired.selection == "best-on-test" and paired.status == "finished"
    assert paired.provenance["paired_with"] == fixed.run_id
    alone_fixed = run_benchmark(config(tiny_model, flows_dir), store)
    alone_bot = run_benchmark(config(tiny_model, flows_dir, selection="best-on-test"), store)
    # the same identities (so the board groups them as one configuration) and the same floats
    assert store.run(alone_bot.run_id).config_hash == paired.config_hash
    assert store.run(alone_fixed.run_id).config_hash == store.run(fixed.run_id).config_hash
    np.testing.assert_array_equal(probs(store, pair), probs(store, alone_bot.run_id))
    np.testing.assert_array_equal(probs(store, fixed.run_id), probs(store, alone_fixed.run_id))
    chosen = store.folds(pair)
    assert chosen["selected_epoch"].between(1, 3).all()
    assert all(
        s["rule"] == "best held-out accuracy" and s["candidates"] == 3 for s in chosen["selection"]
    )  # it chose among the 3 epochs, on test labels
    assert (store.folds(fixed.run_id)["selected_epoch"] == 3).all()


def test_an_interrupted_pair_resumes_together(tiny_model, flows_dir, store_path, monkeypatch):
    store = Store(store_path)
    real_run_fold = executors.run_fold
    calls: list[int] = []

    def interrupted(ctx, task, on_epoch=None):
        if len(calls) == 4:
            raise KeyboardInterrupt
        calls.append(task.fold.index)
        return real_run_fold(ctx, task, on_epoch)

    monkeypatch.setattr(executors, "run_fold", interrupted)
    with pytest.raises(RunInterrupted):
        run_benchmark(config(tiny_model, flows_dir, paired=("best-on-test",)), store)
    primary = next(r for r in store.runs() if r.selection == "fixed")
    pair = store.run(primary.provenance["paired_runs"]["best-on-test"])
    assert primary.status == pair.status == "interrupted"
    assert (
        store.finished_folds(pair.run_id) == store.finished_folds(primary.run_id) == set(range(4))
    )
    with pytest.raises(UsageError, match=f"resume that run .*{primary.run_id}"):
        run_benchmark(
            config(tiny_model, flows_dir, selection="best-on-test"), store, resume=pair.run_id
        )
    monkeypatch.setattr(executors, "run_fold", real_run_fold)
    from mer_bench.run.engine import resume_config

    run_benchmark(resume_config(primary), store, resume=primary.run_id)
    for run_id in (primary.run_id, pair.run_id):
        assert store.run(run_id).status == "finished" and len(store.finished_folds(run_id)) == 68


def test_pairing_with_a_rule_it_cannot_be_concluded_from_is_refused(
    tiny_model, flows_dir, store_path
):
    store = Store(store_path)
    with pytest.raises(
        UsageError, match="--paired best-on-test cannot be concluded from --selection val-subjects"
    ):
        run_benchmark(
            config(tiny_model, flows_dir, selection="val-subjects", paired=("best-on-test",)), store
        )
    with pytest.raises(UsageError, match="--paired fixed cannot"):
        run_benchmark(config(tiny_model, flows_dir, paired=("fixed",)), store)
    assert store.runs() == []
