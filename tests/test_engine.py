"""The LOSO engine: folds, seeds, selection policies, storage and resume."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mer_bench.executors as executors
from mer_bench.data import FALLBACK_POINTS, InputArrays, ProtocolData
from mer_bench.engine import RunConfig, run_benchmark
from mer_bench.errors import MerBenchError
from mer_bench.folds import fold_seed, loso_folds
from mer_bench.sources import SourceOptions
from mer_bench.store import Store


def flows_config(model: str, root, **kw) -> RunConfig:
    kw.setdefault("executor", "sequential")  # in-process, so tests can intercept run_fold
    return RunConfig(model=model, protocol="megc2019", source="flows",
                     source_options=SourceOptions(data_root=root), device="cpu", **kw)


def test_loso_folds_never_train_on_the_held_out_subject():
    samples = pd.DataFrame({
        "dataset": ["smic"] * 4 + ["casme2"] * 4,
        "subject": ["s1", "s1", "s2", "s2", "s1", "s1", "s3", "s3"],  # 's1' in two datasets
        "sample": [f"x{i}" for i in range(8)],
        "label": [0, 1, 2, 0, 1, 2, 0, 1],
    })
    n = len(samples)
    arrays = InputArrays(np.zeros((n, 3, 28, 28)), np.repeat(FALLBACK_POINTS[None], n, 0), np.ones(n))
    data = ProtocolData(samples, arrays, ("a", "b", "c"))
    folds = loso_folds(data, run_seed=7)
    assert [f.key for f in folds] == ["casme2:s1", "casme2:s3", "smic:s1", "smic:s2"]
    keys = data.fold_keys().to_numpy()
    for fold in folds:
        assert set(keys[fold.test_idx]) == {fold.key}
        assert fold.key not in set(keys[fold.train_idx])
        assert len(fold.train_idx) + len(fold.test_idx) == n
    assert sorted(np.concatenate([f.test_idx for f in folds]).tolist()) == list(range(n))
    # a fold's seed depends on the run seed and its subject only
    assert folds[2].seed == fold_seed(7, "smic:s1") != fold_seed(8, "smic:s1")


def test_fixed_run_is_stored_reproducible_and_above_chance(tiny_model, flows_dir, store_path):
    store = Store(store_path)
    first = run_benchmark(flows_config(tiny_model, flows_dir), store, show_progress=False)
    again = run_benchmark(flows_config(tiny_model, flows_dir), store, show_progress=False)
    assert first.n_samples == 442 and first.n_subjects == 68
    assert first.report.pooled.uf1 > 0.6  # the fixture's classes are learnable
    assert set(first.report.per_dataset) == {"smic", "casme2", "samm"}
    p1, p2 = store.predictions(first.run_id), store.predictions(again.run_id)
    assert np.allclose(np.array(p1["probs"].tolist()), np.array(p2["probs"].tolist()))
    run = store.run(first.run_id)
    assert run.status == "finished" and run.selection == "fixed" and run.epochs == 3
    assert run.recipe["lr"] == 0.01 and run.provenance["points_fallback"] == 442
    assert len(store.folds(first.run_id)) == 68
    assert (store.folds(first.run_id)["selected_epoch"] == 3).all()


def test_best_on_test_picks_the_best_held_out_epoch(tiny_model, flows_dir, store_path, monkeypatch):
    store = Store(store_path)
    fixed = run_benchmark(flows_config(tiny_model, flows_dir, epochs=4), store, show_progress=False)
    legacy = run_benchmark(flows_config(tiny_model, flows_dir, epochs=4, selection="best-on-test"),
                           store, show_progress=False)
    folds = store.folds(legacy.run_id)
    assert folds["selected_epoch"].between(1, 4).all()
    assert store.run(legacy.run_id).selection == "best-on-test"
    # choosing on test labels can only help accuracy fold by fold
    pf, pl = store.predictions(fixed.run_id), store.predictions(legacy.run_id)
    acc = lambda p: (p["pred"] == p["label"]).groupby(p["fold_index"]).mean()  # noqa: E731
    assert (acc(pl) >= acc(pf) - 1e-12).all()


def test_resume_after_interruption_skips_finished_folds(tiny_model, flows_dir, store_path, monkeypatch):
    store = Store(store_path)
    reference = run_benchmark(flows_config(tiny_model, flows_dir), store, show_progress=False)
    calls: list[int] = []
    real_run_fold = executors.run_fold

    def interrupted(ctx, fold, on_epoch=None):
        if len(calls) == 5:
            raise KeyboardInterrupt
        calls.append(fold.index)
        return real_run_fold(ctx, fold, on_epoch)

    monkeypatch.setattr(executors, "run_fold", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(flows_config(tiny_model, flows_dir), store, show_progress=False)
    partial = [r for r in store.runs() if r.run_id != reference.run_id][0]
    assert partial.status == "running" and store.finished_folds(partial.run_id) == set(range(5))

    calls.clear()
    monkeypatch.setattr(executors, "run_fold", lambda ctx, fold, on_epoch=None: (
        calls.append(fold.index), real_run_fold(ctx, fold, on_epoch))[1])
    resumed = run_benchmark(flows_config(tiny_model, flows_dir), store, resume=partial.run_id,
                            show_progress=False)
    assert sorted(calls) == list(range(5, 68))
    assert resumed.run_id == partial.run_id and store.run(partial.run_id).status == "finished"
    a = store.predictions(reference.run_id).set_index(["dataset", "subject", "sample"]).sort_index()
    b = store.predictions(partial.run_id).set_index(["dataset", "subject", "sample"]).sort_index()
    assert np.allclose(np.array(a["probs"].tolist()), np.array(b["probs"].tolist()))


def test_resume_refuses_another_configuration(tiny_model, flows_dir, store_path):
    store = Store(store_path)
    run = run_benchmark(flows_config(tiny_model, flows_dir, epochs=1), store, show_progress=False)
    with pytest.raises(MerBenchError, match="another configuration"):
        run_benchmark(flows_config(tiny_model, flows_dir, epochs=2), store, resume=run.run_id,
                      show_progress=False)


def test_config_hash_covers_the_data_options():
    base = RunConfig(model="m", protocol="p", source="demo",
                     source_options=SourceOptions(extra={"difficulty": "standard", "progress": True}))
    harder = RunConfig(model="m", protocol="p", source="demo",
                       source_options=SourceOptions(extra={"difficulty": "hard", "progress": True}))
    quiet = RunConfig(model="m", protocol="p", source="demo",
                      source_options=SourceOptions(extra={"difficulty": "standard", "progress": False}))
    from mer_bench.cards import Recipe

    r = Recipe()
    assert base.config_hash(r) != harder.config_hash(r)
    assert base.config_hash(r) == quiet.config_hash(r)
