"""--save-weights: each fold's model kept as safetensors next to the store, handed back by the
trainer (stacked models sliced), reproducing the fold's stored predictions; checkpoints refused
unless they are exactly the expected model and view; export --with-weights."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from _small_problem import bn_spec, small_problem
from conftest import TINY, TinyCNN, tiny_spec
from safetensors.torch import save_file
from test_cli import cli

from mer_bench.core import registry
from mer_bench.run.engine import RunConfig, prepare_run, run_benchmark
from mer_bench.core.errors import MerBenchError
from mer_bench.data.sources import source_options
from mer_bench.results.store import Store
from mer_bench.run.training import TorchTrainer, TrainJob
from mer_bench.run.weights import CheckpointError, check_checkpoint, load_model, run_artifacts


def lodo(root, **kw) -> RunConfig:
    kw.setdefault("executor", "sequential")
    return RunConfig(
        model=TINY,
        protocol="megc2019-lodo",
        source="flows",
        source_options=source_options("flows", data_root=root),
        device="cpu",
        epochs=2,
        **kw,
    )


@pytest.fixture(scope="module")
def saved(tmp_path_factory, flows_dir):
    """A leave-one-dataset-out run under `local` (weights travel back from worker processes)."""
    registry.register(tiny_spec())
    path = tmp_path_factory.mktemp("weights") / "results.sqlite"
    store = Store(path)
    summary = run_benchmark(lodo(flows_dir, executor="local", workers=1, save_weights=True), store)
    return path, store, summary.run_id


def test_each_fold_keeps_the_model_that_made_its_predictions(saved, flows_dir):
    path, store, run_id = saved
    run = store.run(run_id)
    folds = store.folds(run_id)
    assert folds["artifact"].tolist() == [
        f"results-weights/{run_id}/fold-{i:03d}-{key}.safetensors"
        for i, key in enumerate(["casme2", "samm", "smic"])
    ]
    prepared = prepare_run(lodo(flows_dir))
    stored = store.predictions(run_id).set_index(["dataset", "subject", "sample"])["probs"]
    for (key, file), task in zip(run_artifacts(store, run), prepared.tasks):
        assert file.parent == path.parent / "results-weights" / run_id and task.fold.key == key
        model, info = load_model(
            file, registry.get_model(TINY), 3, view={"name": "flow28"}, run_id=run_id
        )
        assert (info.fold_key, info.kind, info.recipe, info.card["name"], info.classes) == (
            key,
            "benchmark",
            run.recipe,
            TINY,
            ("negative", "positive", "surprise"),
        )
        with torch.no_grad():
            probs = torch.softmax(
                model(torch.as_tensor(prepared.context.x[task.fold.test_idx])), dim=1
            ).numpy()
        rows = prepared.samples.iloc[task.fold.test_idx]
        expected = np.stack(
            stored.loc[list(zip(rows["dataset"], rows["subject"], rows["sample"]))]
            .map(np.array)
            .to_numpy()
        )
        assert np.abs(probs - expected).max() < 1e-6


def test_stacked_training_hands_back_each_models_own_weights():
    ctx, tasks, _ = small_problem()
    spec = registry.get_model(ctx.model)  # BatchNorm: running statistics are per model
    jobs = [
        TrainJob(
            t.fold.index,
            "final",
            t.fold.seed,
            ctx.recipe,
            t.fold.train_idx,
            predict_rows=t.fold.test_idx,
            keep_weights=True,
        )
        for t in tasks[:3]
    ]
    trainer = TorchTrainer(spec, 3, torch.device("cpu"))
    labels = [t.labels for t in tasks[:3]]
    stacked = trainer.train(jobs, ctx.x, labels, stacked=True)
    for k, job in enumerate(jobs):
        (alone,) = trainer.train([job], ctx.x, [labels[k]])
        assert list(stacked[k].weights) == list(alone.weights)  # the names spec.build gives
        for name, tensor in alone.weights.items():
            assert stacked[k].weights[name].shape == tensor.shape
            assert torch.allclose(stacked[k].weights[name].double(), tensor.double(), atol=1e-4)
        batches = -(-len(job.train_rows) // ctx.recipe.batch_size)
        assert int(stacked[k].weights["net.2.num_batches_tracked"]) == 3 * batches
    first, second = (
        stacked[0].weights["net.2.running_mean"],
        stacked[1].weights["net.2.running_mean"],
    )
    assert not torch.equal(first, second)
    (plain,) = trainer.train([dataclasses.replace(jobs[0], keep_weights=False)], ctx.x, labels[:1])
    assert plain.weights is None


# --- refused checkpoints ----------------------------------------------------------------------


@pytest.fixture()
def good(saved):
    _, store, run_id = saved
    return run_artifacts(store, store.run(run_id))[0][1]


def _metadata(good) -> dict:
    from safetensors import safe_open

    with safe_open(str(good), "pt") as fh:
        return fh.metadata()


def test_refuses_pickles_other_formats_and_foreign_safetensors(good, tmp_path):
    spec = registry.get_model(TINY)
    pickled = tmp_path / "model.pt"
    torch.save(TinyCNN(3).state_dict(), pickled)
    with pytest.raises(
        CheckpointError,
        match=r"model\.pt: weights are read from \.safetensors "
        r"files only \(never pickle\)$",
    ):
        check_checkpoint(pickled, spec, 3)
    disguised = tmp_path / "model.safetensors"
    disguised.write_bytes(pickled.read_bytes())
    with pytest.raises(CheckpointError, match=r"not a safetensors file \(bad header length\)$"):
        check_checkpoint(disguised, spec, 3)
    foreign = tmp_path / "foreign.safetensors"
    save_file(TinyCNN(3).state_dict(), str(foreign))
    with pytest.raises(CheckpointError, match=r"not a mer-bench checkpoint \(metadata format None"):
        check_checkpoint(foreign, spec, 3)
    with pytest.raises(CheckpointError, match=r"no such weights file$"):
        check_checkpoint(tmp_path / "absent.safetensors", spec, 3)


def test_refuses_another_model_view_or_tensor_shape(good, tmp_path):
    spec = registry.get_model(TINY)
    assert check_checkpoint(good, spec, 3, view={"name": "flow28"}).model == TINY
    registry.register(bn_spec())
    with pytest.raises(
        CheckpointError,
        match=r"a checkpoint of model 'test-tiny-cnn', not "
        r"'test-bn-cnn'$",
    ):
        check_checkpoint(good, registry.get_model("test-bn-cnn"), 3)
    with pytest.raises(
        CheckpointError,
        match=r"trained on view \{'name': 'flow28'\}, expected "
        r"\{'name': 'frames'\}$",
    ):
        check_checkpoint(good, spec, 3, view={"name": "frames"})
    meta = _metadata(good)
    wrong = tmp_path / "four.safetensors"
    save_file(TinyCNN(4).state_dict(), str(wrong), metadata=meta)  # a 4-class head
    with pytest.raises(
        CheckpointError,
        match=r"tensor net\.4\.weight is F32 \[4, 128\], model "
        r"'test-tiny-cnn' has F32 \[3, 128\]$",
    ):
        check_checkpoint(wrong, spec, 3)
    state = TinyCNN(3).state_dict()
    state.pop("net.0.bias")
    state["extra"] = torch.zeros(1)
    renamed = tmp_path / "renamed.safetensors"
    save_file(state, str(renamed), metadata=meta)
    with pytest.raises(
        CheckpointError,
        match=r"tensor names are not those of model "
        r"'test-tiny-cnn' \(missing net\.0\.bias; "
        r"unexpected extra\)$",
    ):
        check_checkpoint(renamed, spec, 3)
    with pytest.raises(CheckpointError, match=r"belongs to run"):
        check_checkpoint(good, spec, 3, run_id="another-run")


def test_runs_that_cannot_keep_weights_stop_before_training(flows_dir, tmp_path):
    registry.register(tiny_spec())
    with pytest.raises(MerBenchError, match=r"^--save-weights with selection 'best-on-test': "):
        prepare_run(lodo(flows_dir, selection="best-on-test", save_weights=True))
    with pytest.raises(
        MerBenchError,
        match=r"^--save-weights keeps torch weights; 'svm-hoof' is "
        r"a fitted estimator$",
    ):
        prepare_run(
            RunConfig(
                model="svm-hoof",
                protocol="megc2019-lodo",
                source="flows",
                source_options=source_options("flows", data_root=flows_dir),
                device="cpu",
                save_weights=True,
            )
        )
    url_store = Store("sqlite://")  # a database URL: no folder to keep files next to
    with pytest.raises(MerBenchError, match=r"is a database URL: use a SQLite file"):
        run_benchmark(lodo(flows_dir, save_weights=True), url_store)
    assert url_store.runs() == []


def test_export_with_weights_copies_the_checkpoints(saved, tmp_path, capsys):
    path, store, run_id = saved
    target = tmp_path / "out" / "run.json"
    target.parent.mkdir()
    code, out, err = cli(
        ["export", run_id, "--store", str(path), "-o", str(target), "--with-weights"], capsys
    )
    assert code == 0, err
    folder = target.parent / f"{run_id}-weights"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "fold-000-casme2.safetensors",
        "fold-001-samm.safetensors",
        "fold-002-smic.safetensors",
    ]
    exported = json.loads(target.read_text())
    assert [f["artifact"].rsplit("/", 1)[1] for f in exported["folds"]] == names
    for name in names:
        assert (folder / name).read_bytes() == (
            path.parent / "results-weights" / run_id / name
        ).read_bytes()


def _torch_models() -> list:
    """Every registered torch model (HTNet's 140M parameters with the slow tests)."""
    out = []
    for name in registry.MODELS.names():
        spec = registry.get_model(name)
        if spec.card.framework == "torch":
            big = spec.card.num_params > 50_000_000
            out.append(pytest.param(name, marks=pytest.mark.slow) if big else name)
    return out


@pytest.mark.parametrize("name", _torch_models())
def test_every_torch_model_round_trips_through_a_checkpoint(name, tmp_path):
    from mer_bench.run.weights import CheckpointInfo, save_checkpoint

    spec = registry.get_model(name)
    torch.manual_seed(0)
    state = spec.build(3).state_dict()
    info = CheckpointInfo(
        model=name,
        view={"name": "flow28"},
        classes=("a", "b", "c"),
        card={"name": name},
        recipe=spec.card.recipe.as_dict(),
        run_id="r1",
        kind="final",
        protocol="p",
        fold_index=0,
        fold_key="all",
        seed=0,
        preprocessing=None,
    )
    path = save_checkpoint(tmp_path / "model.safetensors", state, info)
    model, read = load_model(path, spec, 3, view={"name": "flow28"}, run_id="r1")
    assert read == info and not model.training
    loaded = model.state_dict()
    assert list(loaded) == list(state)
    assert all(torch.equal(loaded[k], state[k]) for k in state)
