"""The LOSO engine: folds, seeds, selection policies, storage and resume."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mer_bench.run.executors.base as executors
from mer_bench.data.contract import FALLBACK_POINTS, InputArrays, ProtocolData
from mer_bench.run.engine import RunConfig, prepare_run, run_benchmark
from mer_bench.core.errors import MerBenchError, RunInterrupted
from mer_bench.run.folds import derived_seed, hold_out_database_folds, loso_folds
from mer_bench.data.sources import source_options
from mer_bench.results.store import Store


def flows_config(model: str, root, **kw) -> RunConfig:
    kw.setdefault("executor", "sequential")  # in-process, so tests can intercept run_fold
    return RunConfig(
        model=model,
        protocol="megc2019",
        source="flows",
        source_options=source_options("flows", data_root=root),
        device="cpu",
        **kw,
    )


def test_loso_folds_never_train_on_the_held_out_subject():
    samples = pd.DataFrame(
        {
            "dataset": ["smic"] * 4 + ["casme2"] * 4,
            "subject": ["s1", "s1", "s2", "s2", "s1", "s1", "s3", "s3"],  # 's1' in two datasets
            "sample": [f"x{i}" for i in range(8)],
            "label": [0, 1, 2, 0, 1, 2, 0, 1],
        }
    )
    n = len(samples)
    arrays = InputArrays(
        np.zeros((n, 3, 28, 28)), np.repeat(FALLBACK_POINTS[None], n, 0), np.ones(n)
    )
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
    assert folds[2].seed == derived_seed(7, "smic:s1") != derived_seed(8, "smic:s1")
    # the one derivation gives what fold_seed and derived_seed gave (run identities, predictions)
    assert (derived_seed(7, "smic:s1"), derived_seed(0, "val-subjects")) == (644784709, 648535526)


def test_fixed_run_is_stored_reproducible_and_above_chance(tiny_model, flows_dir, store_path):
    store = Store(store_path)
    first = run_benchmark(flows_config(tiny_model, flows_dir), store)
    again = run_benchmark(flows_config(tiny_model, flows_dir), store)
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
    fixed = run_benchmark(flows_config(tiny_model, flows_dir, epochs=4), store)
    legacy = run_benchmark(
        flows_config(tiny_model, flows_dir, epochs=4, selection="best-on-test"), store
    )
    folds = store.folds(legacy.run_id)
    assert folds["selected_epoch"].between(1, 4).all()
    assert store.run(legacy.run_id).selection == "best-on-test"
    # choosing on test labels can only help accuracy fold by fold
    pf, pl = store.predictions(fixed.run_id), store.predictions(legacy.run_id)
    acc = lambda p: (p["pred"] == p["label"]).groupby(p["fold_index"]).mean()  # noqa: E731
    assert (acc(pl) >= acc(pf) - 1e-12).all()


def test_resume_after_interruption_skips_finished_folds(
    tiny_model, flows_dir, store_path, monkeypatch
):
    store = Store(store_path)
    reference = run_benchmark(flows_config(tiny_model, flows_dir), store)
    calls: list[int] = []
    real_run_fold = executors.run_fold

    def interrupted(ctx, task, on_epoch=None):
        if len(calls) == 5:
            raise KeyboardInterrupt
        calls.append(task.fold.index)
        return real_run_fold(ctx, task, on_epoch)

    monkeypatch.setattr(executors, "run_fold", interrupted)
    with pytest.raises(
        RunInterrupted, match="with 5/68 folds stored; resume it with: mer-bench run --resume"
    ):
        run_benchmark(flows_config(tiny_model, flows_dir), store)
    partial = [r for r in store.runs() if r.run_id != reference.run_id][0]
    assert partial.status == "interrupted" and store.finished_folds(partial.run_id) == set(range(5))

    calls.clear()
    monkeypatch.setattr(
        executors,
        "run_fold",
        lambda ctx, task, on_epoch=None: (
            calls.append(task.fold.index),
            real_run_fold(ctx, task, on_epoch),
        )[1],
    )
    resumed = run_benchmark(flows_config(tiny_model, flows_dir), store, resume=partial.run_id)
    assert sorted(calls) == list(range(5, 68))
    assert resumed.run_id == partial.run_id and store.run(partial.run_id).status == "finished"
    a = store.predictions(reference.run_id).set_index(["dataset", "subject", "sample"]).sort_index()
    b = store.predictions(partial.run_id).set_index(["dataset", "subject", "sample"]).sort_index()
    assert np.allclose(np.array(a["probs"].tolist()), np.array(b["probs"].tolist()))


def test_resume_refuses_another_configuration(tiny_model, flows_dir, store_path):
    store = Store(store_path)
    run = run_benchmark(flows_config(tiny_model, flows_dir, epochs=1), store)
    with pytest.raises(MerBenchError, match="another configuration"):
        run_benchmark(flows_config(tiny_model, flows_dir, epochs=2), store, resume=run.run_id)


def test_run_identity_covers_the_data_options(tmp_path):
    def identity(**values):
        config = RunConfig(
            model="ststnet",
            protocol="megc2019",
            source="demo",
            source_options=source_options("demo", cache_dir=tmp_path, **values),
        )
        from mer_bench.core.identity import RunIdentity
        from mer_bench.data.sources import identity_of

        return RunIdentity(
            model="ststnet",
            protocol="megc2019",
            source="demo",
            data=identity_of(config.source_options),
        )

    base, harder = identity(difficulty="standard"), identity(difficulty="hard")
    quiet, other_cache = identity(difficulty="standard", progress=False), identity(workers=1)
    assert base.group_hash != harder.group_hash and base.config_hash != harder.config_hash
    assert base.config_hash == quiet.config_hash == other_cache.config_hash  # where, not what
    assert identity(flow_method="dis").data["flow_method"] == "dis"
    assert identity(flow_method="dis").group_hash != base.group_hash


def test_a_flows_folders_contents_are_part_of_the_identity_not_its_place(tmp_path, megc_manifest):
    from conftest import write_flow_folder

    a = write_flow_folder(tmp_path / "a", megc_manifest)
    b = write_flow_folder(tmp_path / "b", megc_manifest)  # the same files elsewhere
    c = write_flow_folder(tmp_path / "c", megc_manifest, seed=1)  # other files
    runs = [
        prepare_run(
            RunConfig(
                model="ststnet",
                protocol="megc2019",
                source="flows",
                source_options=source_options("flows", data_root=root),
            )
        )
        for root in (a, b, c)
    ]
    assert runs[0].identity.group_hash == runs[1].identity.group_hash
    assert runs[0].identity.group_hash != runs[2].identity.group_hash
    assert set(runs[0].identity.data) == {"flows_sha256", "points"}
    assert runs[0].provenance["source_options"]["data_root"] == str(a.resolve())


def test_hold_out_database_folds_hold_out_one_dataset_each():
    samples = pd.DataFrame(
        {
            "dataset": ["smic"] * 3 + ["casme2"] * 2 + ["samm"] * 2,
            "subject": ["s1", "s2", "s2", "sub01", "sub02", "006", "007"],
            "sample": [f"x{i}" for i in range(7)],
            "label": [0, 1, 2, 0, 1, 2, 0],
        }
    )
    n = len(samples)
    arrays = InputArrays(
        np.zeros((n, 3, 28, 28)), np.repeat(FALLBACK_POINTS[None], n, 0), np.ones(n)
    )
    folds = hold_out_database_folds(ProtocolData(samples, arrays, ("a", "b", "c")), run_seed=3)
    assert [f.key for f in folds] == ["casme2", "samm", "smic"]
    assert [len(f.test_idx) for f in folds] == [2, 2, 3]
    for fold in folds:
        assert set(samples["dataset"].iloc[fold.test_idx]) == {fold.key}
        assert fold.key not in set(samples["dataset"].iloc[fold.train_idx])
