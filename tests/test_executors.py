"""Executors: local processes, Ray and fold-parallel give the sequential run's predictions, and a
run interrupted under any of them resumes without redoing finished folds."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from _small_problem import collect, small_problem
from conftest import TINY, tiny_spec

from mer_bench.core import registry
from mer_bench.core.cards import ModelCard, ModelSpec, Recipe
from mer_bench.run.engine import RunConfig, run_benchmark
from mer_bench.core.errors import MerBenchError, RunInterrupted
from mer_bench.run.executors import SequentialExecutor, make_executor
from mer_bench.run.executors.fold_parallel import FoldParallelExecutor
from mer_bench.data.sources import source_options
from mer_bench.results.store import Store
from mer_bench.run.training import batch_slices
from mer_bench.run.training.optim import StackedOptimizer, make_optimizer
from mer_bench.run.training.replicas import MaskedBatchNorm
from mer_bench.run.training.schedule import epoch_steps, shuffler

#: Workers run one intra-op thread each: the driver runs one as well, for equal numbers.
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("selection", ["fixed", "best-on-test"])
@pytest.mark.parametrize("batch_size", [15, 16])
def test_fold_parallel_matches_sequential_on_cpu(selection, batch_size):
    ctx, tasks, y = small_problem(selection)
    ctx = dataclasses.replace(ctx, recipe=dataclasses.replace(ctx.recipe, batch_size=batch_size))
    if batch_size == 15:  # over 73..77 training rows some folds take 5 steps an epoch, others 6
        assert len({len(batch_slices(len(t.fold.train_idx), 15)) for t in tasks}) == 2
    reference = collect(SequentialExecutor(), ctx, tasks, y)
    stacked = collect(FoldParallelExecutor(), ctx, tasks, y)
    for k in reference:
        # Stacked matmuls add in another order; over 3 epochs at lr 1e-2 that rounding grew to
        # 1.2e-4 on an AVX2-only CPU (under 1e-4 with AVX-512).
        assert np.abs(reference[k].probs - stacked[k].probs).max() < 5e-4
        assert np.array_equal(reference[k].probs.argmax(1), stacked[k].probs.argmax(1))
        assert reference[k].selected_epoch == stacked[k].selected_epoch


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
def test_stacked_optimizer_is_torch_optimizer_per_fold(optimizer):
    recipe = Recipe(optimizer=optimizer, lr=1e-2, weight_decay=0.01)
    torch.manual_seed(0)
    alone = torch.randn(5, 4, requires_grad=True)
    stacked = alone.detach().clone()[None].repeat(2, 1, 1)
    reference = make_optimizer(recipe, [alone])
    together = StackedOptimizer(recipe, [stacked], 2)
    for step in range(4):
        grad = torch.randn(5, 4)
        alone.grad = grad.clone()
        reference.step()
        frozen = stacked[1].clone()
        together.step([grad[None].repeat(2, 1, 1)], np.array([True, step != 1]))
        if step == 1:  # an inactive fold does not move and does not count the step
            assert torch.equal(stacked[1], frozen)
    assert torch.equal(stacked[0], alone.detach())
    assert together.steps.tolist() == [4, 3]


def test_fold_parallel_chunks_give_the_same_predictions():
    ctx, tasks, y = small_problem()
    whole = collect(FoldParallelExecutor(), ctx, tasks, y)
    chunked = collect(FoldParallelExecutor(chunk=4), ctx, tasks, y)  # chunks of 3 and 3
    for k in whole:
        assert np.abs(whole[k].probs - chunked[k].probs).max() < 1e-5


def test_epoch_steps_are_each_folds_own_sequential_batches():
    ctx, tasks, _ = small_problem()
    folds = [t.fold for t in tasks]
    steps = epoch_steps([f.train_idx for f in folds], [shuffler(f.seed) for f in folds], 15)
    for k, fold in enumerate(folds):
        order = torch.randperm(
            len(fold.train_idx), generator=torch.Generator().manual_seed(fold.seed + 1)
        )
        expected = [fold.train_idx[order[s].numpy()] for s in batch_slices(len(fold.train_idx), 15)]
        got = [st.rows[k][st.weight[k] > 0].numpy() for st in steps if st.active[k]]
        assert len(got) == len(expected)
        assert all(np.array_equal(a, b) for a, b in zip(got, expected))
        # padding rows are the fold's own training rows: no held-out row is ever fed in training
        assert not set(np.concatenate([st.rows[k].numpy() for st in steps])) & set(fold.test_idx)


def test_masked_batchnorm_ignores_zero_weight_rows():
    torch.manual_seed(0)
    x = torch.randn(10, 4, 5, 5) * 3 + 1
    weight = torch.tensor([1.0] * 7 + [0.0] * 3)
    plain = nn.BatchNorm2d(4)
    masked = MaskedBatchNorm(nn.BatchNorm2d(4))
    masked.row_weight = weight
    expected = plain(x[:7])
    got = masked(x)
    assert torch.allclose(got[:7], expected, atol=1e-5)
    mean, var, tracked = masked.update
    assert torch.allclose(mean, plain.running_mean, atol=1e-6)
    assert torch.allclose(var, plain.running_var, atol=1e-5)
    assert int(tracked) == 1


# ---- interrupted runs resume without redoing finished folds ------------------------------------


class InterruptingStore(Store):
    """Commits `limit` folds, then raises KeyboardInterrupt as Ctrl-C would; counts commits."""

    def __init__(self, path, limit: int | None = None) -> None:
        super().__init__(path)
        self.limit, self.added = limit, []

    def add_fold(self, run_id, record) -> None:
        super().add_fold(run_id, record)
        self.added.append(record.fold_index)
        if self.limit is not None and len(self.added) >= self.limit:
            raise KeyboardInterrupt


def flows_run(executor: str, flows_dir) -> RunConfig:
    return RunConfig(
        model=TINY,
        protocol="megc2019",
        source="flows",
        device="cpu",
        executor=executor,
        workers=2,
        epochs=1,
        source_options=source_options("flows", data_root=flows_dir),
    )


@pytest.fixture(scope="module")
def sequential_probs(flows_dir, tmp_path_factory) -> np.ndarray:
    """The tiny model's predictions on the 68-fold composite, one fold after another."""
    registry.register(tiny_spec())
    store = Store(tmp_path_factory.mktemp("reference") / "results.sqlite")
    torch.set_num_threads(1)
    run_id = run_benchmark(flows_run("sequential", flows_dir), store).run_id
    probs = np.array(store.predictions(run_id)["probs"].tolist())
    store.close()
    return probs


def interrupted_then_resumed(executor: str, flows_dir, store_path) -> tuple[np.ndarray, dict]:
    """Run under `executor`, stop it after 5 folds, resume it; check no fold ran twice."""
    config = flows_run(executor, flows_dir)
    first = InterruptingStore(store_path, limit=5)
    with pytest.raises(RunInterrupted):  # Ctrl-C, as the engine reports it
        run_benchmark(config, first)
    (run,) = first.runs()
    done = set(first.added)
    first.close()
    second = InterruptingStore(store_path)
    summary = run_benchmark(config, second, resume=run.run_id)
    assert summary.n_samples == 442
    assert len(second.added) == 68 - len(done) and not done & set(second.added)
    assert len(second.folds(run.run_id)) == 68 and second.run(run.run_id).status == "finished"
    probs = np.array(second.predictions(run.run_id)["probs"].tolist())
    provenance = second.run(run.run_id).provenance["executor"]
    second.close()
    return probs, provenance


def test_local_run_resumes_and_matches_sequential_bitwise(
    tiny_model, flows_dir, store_path, sequential_probs
):
    probs, provenance = interrupted_then_resumed("local", flows_dir, store_path)
    assert np.array_equal(probs, sequential_probs)
    assert provenance == {
        "executor": "local",
        "workers": 2,
        "threads_per_worker": 1,
        "start_method": "spawn",
    }


def test_fold_parallel_run_resumes_and_matches_sequential(
    tiny_model, flows_dir, store_path, sequential_probs
):
    probs, provenance = interrupted_then_resumed("fold-parallel", flows_dir, store_path)
    assert np.abs(probs - sequential_probs).max() < 1e-4
    assert provenance["executor"] == "fold-parallel" and provenance["precision"] == "float32"


def test_auto_measures_on_cpu_and_records_its_choice():
    ctx, folds, _ = small_problem()
    auto = make_executor("auto", workers=2)
    chosen = auto.choose(ctx, folds)
    assert chosen in ("local", "fold-parallel") and auto.reason.startswith("CPU trial")
    trial = auto.trial
    assert trial["single_fold_step_s"] > 0 and trial["stacked_folds"] == 4
    faster = trial["fold_parallel_folds_per_s"] > 1.2 * trial["local_folds_per_s"]
    assert chosen == ("fold-parallel" if faster else "local")
    assert (
        make_executor("auto").choose(dataclasses.replace(ctx, device="cuda"), folds)
        == "fold-parallel"
    )
    assert auto.describe()["reason"] == auto.reason


def test_executor_options_pass_through_and_unknown_ones_are_named():
    ray = make_executor("ray", workers=3, address="auto")
    assert ray.address == "auto" and ray.workers == 3
    assert make_executor("fold-parallel", chunk=5).chunk == 5
    with pytest.raises(MerBenchError, match="executor 'local' does not take that option.*address"):
        make_executor("local", address="auto")


# ---- Ray (local instance) ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_run_resumes_and_matches_sequential_bitwise(
    ray_instance, tiny_model, flows_dir, store_path, sequential_probs
):
    """Interrupted under Ray and resumed: every prediction equals the sequential run's, bitwise."""
    probs, provenance = interrupted_then_resumed("ray", flows_dir, store_path)
    assert np.array_equal(probs, sequential_probs)
    assert provenance["executor"] == "ray" and provenance["cluster_cpus"] == 2


# ---- benchmark scripts -------------------------------------------------------------------------


def load_script(name: str):
    path = Path(__file__).resolve().parent.parent / "benchmarks" / f"{name}.py"
    module_spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def test_gpu_benchmark_runs_on_cpu_with_tiny_settings(capsys):
    result = load_script("gpu_fold_parallel").main(
        [
            "--device",
            "cpu",
            "--epochs",
            "1",
            "--model",
            "htnet-tiny",
            "--folds",
            "2",
            "--seq-folds",
            "1",
            "--full-epochs",
            "800",
        ]
    )
    assert result["chunk"] == 2 and result["precision"] == "torch.float32"
    assert result["agreement"] == 1.0  # fp32 on CPU: the same predictions as sequential
    assert 0 < result["floor_s"] < result["fold_parallel_s"]
    assert "FLOP floor" in capsys.readouterr().out


class NotVmappable(nn.Module):
    """Data-dependent Python control flow (`.item()`): fine alone, impossible under vmap."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(3 * 28 * 28, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = 2.0 if x.mean().item() > 0 else 1.0
        return self.linear(x.flatten(1) / 255.0) * scale


def test_a_model_that_cannot_be_stacked_is_refused_by_fold_parallel_and_avoided_by_auto():
    card = ModelCard(
        name="test-no-vmap",
        description="Test-only model with .item().",
        reference="mer-bench tests",
        year=2026,
        num_params=7059,
        recipe=Recipe(optimizer="adam", lr=1e-2, batch_size=16, epochs=1),
    )
    registry.register(ModelSpec(card=card, build=NotVmappable))
    ctx, tasks, labels = small_problem()
    ctx = dataclasses.replace(ctx, model="test-no-vmap")
    with pytest.raises(
        MerBenchError,
        match="fold-parallel cannot stack 'test-no-vmap' "
        r"\(flow28 view\) with torch.vmap: .*--executor local",
    ):
        FoldParallelExecutor().check(ctx)
    auto = make_executor("auto", workers=2)
    assert auto.choose(ctx, tasks) == "local" and "cannot be trained stacked" in auto.reason
    out = collect(SequentialExecutor(), ctx, tasks, labels)  # it trains fine one fold at a time
    assert len(out) == len(tasks)
