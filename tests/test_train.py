"""`mer-bench train`: one model on every subject, stored as a final run (never scored or
ranked), its weights kept for `predict`."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import TINY, tiny_spec
from test_cli import cli

from mer_bench.core import registry
from mer_bench.run.engine import RunConfig, run_benchmark
from mer_bench.core.errors import MerBenchError
from mer_bench.run.final import FINAL_KEY, train_final
from mer_bench.run.folds import derived_seed
from mer_bench.data.sources import source_options
from mer_bench.results.store import Store
from mer_bench.run.training import TorchTrainer, TrainJob
from mer_bench.run.weights import load_model, run_artifacts
from mer_bench_leaderboard.data import runs_frame


def config(root, **kw) -> RunConfig:
    return RunConfig(
        model=TINY,
        protocol="megc2019",
        source="flows",
        source_options=source_options("flows", data_root=root),
        device="cpu",
        epochs=2,
        **kw,
    )


def test_final_model_trains_on_every_sample_and_is_stored_as_final(
    tiny_model, flows_dir, store_path
):
    store = Store(store_path)
    final = train_final(config(flows_dir, seed=3), store)
    run = store.run(final.run_id)
    assert (run.kind, run.status, run.n_folds, run.epochs) == ("final", "finished", 1, 2)
    folds = store.folds(final.run_id)
    assert folds[["fold_key", "n_train", "n_test", "epochs_trained"]].values.tolist() == [
        [FINAL_KEY, 442, 0, 2]
    ]
    assert store.predictions(final.run_id).empty and (final.n_train, final.n_subjects) == (442, 68)
    # the stored weights are those of one model trained on all 442 rows with the fold's seed
    ((_, path),) = run_artifacts(store, run)
    model, info = load_model(path, registry.get_model(TINY), 3, run_id=run.run_id)
    assert (info.kind, info.fold_key, info.seed) == ("final", FINAL_KEY, derived_seed(3, FINAL_KEY))
    from mer_bench.run.engine import prepare_run

    prepared = prepare_run(config(flows_dir, seed=3, executor="sequential"))
    job = TrainJob(
        0,
        FINAL_KEY,
        derived_seed(3, FINAL_KEY),
        prepared.recipe,
        train_rows=torch.arange(442).numpy(),
        keep_weights=True,
    )
    (by_hand,) = TorchTrainer(registry.get_model(TINY), 3, torch.device("cpu")).train(
        [job], prepared.context.x, [prepared.labels]
    )
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, by_hand.weights[name]), name


def test_final_runs_are_never_ranked_or_scored(tiny_model, flows_dir, store_path, capsys):
    store = Store(store_path)
    benchmark = run_benchmark(config(flows_dir, executor="sequential"), store)
    final = train_final(config(flows_dir), store)
    assert runs_frame(store)["run_id"].tolist() == [benchmark.run_id]
    code, out, _ = cli(["results", "--store", str(store_path), "--json"], capsys)
    rows = {r["run_id"]: r for r in json.loads(out)}
    assert code == 0 and rows[final.run_id]["kind"] == "final"
    assert rows[final.run_id]["scores"] is None and rows[benchmark.run_id]["scores"]["uf1"] > 0
    code, out, _ = cli(["show", final.run_id, "--store", str(store_path)], capsys)
    assert code == 0 and "final model: trained on every subject" in out
    exported = store_path.parent / "final.json"
    code, _, err = cli(
        ["export", final.run_id, "--store", str(store_path), "-o", str(exported)], capsys
    )
    assert code == 0, err
    data = json.loads(exported.read_text())
    assert data["run"]["kind"] == "final" and data["predictions"] == []
    with pytest.raises(
        MerBenchError,
        match=r"is a final model \(mer-bench train\), not a "
        r"benchmark run: there is nothing to resume$",
    ):
        run_benchmark(config(flows_dir, executor="sequential"), store, resume=final.run_id)
    assert len(store.folds(final.run_id)) == 1


def test_train_command_stores_a_final_model(tiny_model, flows_dir, store_path, capsys):
    code, out, err = cli(
        [
            "-q",
            "train",
            "--model",
            TINY,
            "--source",
            "flows",
            "--data-root",
            str(flows_dir),
            "--epochs",
            "1",
            "--device",
            "cpu",
            "--store",
            str(store_path),
        ],
        capsys,
    )
    assert code == 0, err
    (run,) = Store(store_path).runs()
    assert run.kind == "final" and f"final model {run.run_id}" in out
    assert f"mer-bench predict --run {run.run_id}" in out


def test_train_refuses_what_a_final_model_cannot_be(flows_dir, store_path):
    registry.register(tiny_spec())
    store = Store(store_path)
    with pytest.raises(MerBenchError, match=r"^a final model has no held-out fold to choose on"):
        train_final(config(flows_dir, selection="best-on-test"), store)
    with pytest.raises(MerBenchError, match=r"--epochs must be at least 1, got 0"):
        train_final(
            RunConfig(
                model=TINY,
                protocol="megc2019",
                source="flows",
                epochs=0,
                source_options=source_options("flows", data_root=flows_dir),
                device="cpu",
            ),
            store,
        )
    with pytest.raises(MerBenchError, match=r"'svm-hoof' is a fitted estimator"):
        train_final(
            RunConfig(
                model="svm-hoof",
                protocol="megc2019",
                source="flows",
                source_options=source_options("flows", data_root=flows_dir),
                device="cpu",
            ),
            store,
        )
    assert store.runs() == []
