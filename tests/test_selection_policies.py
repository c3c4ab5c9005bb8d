"""The honest policies that choose: `val-subjects` and `nested`. Their choices on scripted scores
(the right answer known), their subject splits, the grid, and that what they keep is exactly the
model they say they keep (the real trainer, bit for bit)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from _small_problem import collect, small_problem
from mer_bench.core import registry
from mer_bench.core.cards import Recipe
from mer_bench.core.errors import UsageError
from mer_bench.run.executors import make_executor, run_fold
from mer_bench.run.folds import Fold
from mer_bench.run.selection import make_policy, run_selection
from mer_bench.run.selection.grid import grid_points, parse_grid
from mer_bench.run.selection.splits import (
    ENOUGH_SUBJECTS,
    best_choice,
    inner_folds,
    validation_counts,
    validation_subjects,
)
from mer_bench.run.training import FoldTask, JobResult, TorchTrainer, TrainJob

pytestmark = pytest.mark.usefixtures("one_thread")

RECIPE = Recipe(optimizer="adam", lr=1e-3, batch_size=8, epochs=6)


def three_dataset_task(
    seed: int = 11, held_out: str = "casme2:s00", sizes: dict[str, int] | None = None
) -> FoldTask:
    """A fold of a composite-like problem: subjects of three datasets (3 rows each), one held
    out; labels cycle over three classes."""
    sizes = sizes or {"smic": 5, "casme2": 8, "samm": 9}
    groups = np.array(
        [f"{d}:s{i:02d}" for d, n in sizes.items() for i in range(n) for _ in range(3)]
    )
    datasets = np.array([g.split(":")[0] for g in groups])
    labels = np.arange(len(groups)) % 3
    test = np.flatnonzero(groups == held_out)
    fold = Fold(0, held_out, seed, np.flatnonzero(groups != held_out), test)
    return FoldTask.hide_test_labels(fold, labels, groups, datasets)


def scripted_trainer(curve):
    """A `train` callable for `run_selection` that trains nothing: each job's monitor scores are
    `curve(job)` (one per epoch) and its predictions mark the job (class = its epoch count % 3)."""
    seen: list[list[TrainJob]] = []

    def train(jobs: list[TrainJob]) -> list[JobResult]:
        seen.append(list(jobs))
        out = []
        for job in jobs:
            scores = tuple(curve(job)) if len(job.monitor_rows) else ()
            best = int(np.argmax(scores)) + 1 if scores else job.recipe.epochs
            probs = np.zeros((len(job.predict_rows), 3))
            probs[:, job.recipe.epochs % 3] = 1.0
            out.append(
                JobResult(
                    job.fold_index,
                    job.key,
                    job.recipe.epochs,
                    best if job.keep == "best" else job.recipe.epochs,
                    scores,
                    probs if len(job.predict_rows) else None,
                    None,
                    1.0,
                )
            )
        return out

    return train, seen


def _trace(
    policy_name: str, curve, task: FoldTask | None = None, recipe: Recipe = RECIPE, **options
):
    policy = make_policy(policy_name, **options)
    train, seen = scripted_trainer(curve)
    (trace,) = run_selection(policy, [task or three_dataset_task()], recipe, train)
    return policy.conclude(trace, None), seen


# ---- choices on scores with a known best ------------------------------------------------------


def test_val_subjects_keeps_the_best_validation_epoch_and_earlier_on_ties():
    out, seen = _trace("val-subjects", lambda job: [0.2, 0.5, 0.7, 0.7, 0.6, 0.1])
    (round_one,) = seen
    (job,) = round_one
    assert job.keep == "best" and job.recipe == RECIPE and len(job.predict_rows) == 3
    assert out.selected_epoch == 3 and out.selection["chosen_epoch"] == 3
    assert out.selection["scores"] == [[0.2, 0.5, 0.7, 0.7, 0.6, 0.1]]
    assert out.selection["grid_point"] == {} and out.epochs_trained == 6


def test_val_subjects_grid_keeps_the_point_whose_best_epoch_scores_highest():
    by_lr = {
        1e-3: [0.1, 0.6, 0.8, 0.8, 0.8, 0.8],
        1e-4: [0.2, 0.8, 0.3, 0.3, 0.3, 0.3],
        5e-5: [0.9, 0.1, 0.1, 0.1, 0.1, 0.1],
    }
    out, seen = _trace(
        "val-subjects", lambda job: by_lr[job.recipe.lr], grid={"lr": [1e-3, 1e-4, 5e-5]}
    )
    assert [j.recipe.lr for j in seen[0]] == [1e-3, 1e-4, 5e-5]
    assert out.selection["grid_point"] == {"lr": 5e-5} and out.selected_epoch == 1
    # equal best scores: fewer epochs first (1e-4 at epoch 2 beats 1e-3 at epoch 3)
    by_lr[5e-5] = [0.1] * 6
    out, _ = _trace(
        "val-subjects", lambda job: by_lr[job.recipe.lr], grid={"lr": [1e-3, 1e-4, 5e-5]}
    )
    assert out.selection["grid_point"] == {"lr": 1e-4} and out.selected_epoch == 2
    # equal best at the same epoch: the earlier point in the declared order
    out, _ = _trace("val-subjects", lambda job: [0.5] * 6, grid={"lr": [1e-4, 1e-3]})
    assert out.selection["grid_point"] == {"lr": 1e-4} and out.selected_epoch == 1


def test_nested_chooses_by_mean_inner_score_then_trains_all_subjects_that_long():
    # Inner fold j peaks at epoch j+1, but the mean over the five peaks at epoch 4.
    def curve(job):
        j = int(job.key[len("inner") :].split("/")[0])
        scores = np.full(6, 0.3)
        scores[j] = 0.9
        scores[3] += 0.2
        return scores

    task = three_dataset_task()
    out, seen = _trace("nested", curve, task=task)
    inner, final = seen
    assert len(inner) == 5 and all(j.keep == "last" and not len(j.predict_rows) for j in inner)
    assert all(j.recipe.epochs == 6 for j in inner)
    (job,) = final
    assert out.selected_epoch == 4 and job.recipe == RECIPE.override(epochs=4)
    assert np.array_equal(job.train_rows, task.fold.train_idx)
    assert np.array_equal(job.predict_rows, task.fold.test_idx) and job.seed == task.fold.seed
    assert out.selection["scores"][0][3] == pytest.approx(0.3 + 0.2 + 0.6 / 5)
    assert out.selection["inner_folds"] == 5 and out.epochs_trained == 4
    assert out.probs[:, 4 % 3].all()  # what the final job predicted is what the fold stores


def test_nested_with_a_grid_trains_groups_times_points_and_retrains_the_chosen_point():
    def curve(job):
        peak = {32: 1, 64: 4}[job.recipe.batch_size]
        return [0.9 if e == peak and job.recipe.lr == 1e-4 else 0.2 for e in range(6)]

    out, seen = _trace(
        "nested", curve, inner_folds=3, grid=parse_grid(["lr=1e-3,1e-4", "batch_size=32,64"])
    )
    inner, (final,) = seen
    assert (
        len(inner) == 3 * 4
        and make_policy("nested", inner_folds=3, grid={"lr": [1e-3, 1e-4]}).jobs_per_fold() == 6
    )
    assert out.selection["grid_point"] == {"batch_size": 32, "lr": 1e-4}
    assert final.recipe == RECIPE.override(epochs=2, batch_size=32, lr=1e-4)
    assert len(out.selection["scores"]) == 4 == len(out.selection["grid_points"])


def test_nested_final_job_is_fixeds_job_when_it_chooses_the_maximum():
    task = three_dataset_task()
    _, seen = _trace("nested", lambda job: np.linspace(0.1, 0.9, 6), task=task)
    (final,) = seen[-1]
    (fixed,) = make_policy("fixed").begin(task, RECIPE).next_jobs([])
    assert dataclasses.asdict(final).keys() == dataclasses.asdict(fixed).keys()
    for name in ("seed", "recipe", "key", "keep"):
        assert getattr(final, name) == getattr(fixed, name)
    for name in ("train_rows", "predict_rows", "monitor_rows"):
        assert np.array_equal(getattr(final, name), getattr(fixed, name))


def test_best_choice_breaks_ties_by_epoch_then_point():
    assert best_choice(np.array([[0.1, 0.5, 0.5], [0.5, 0.2, 0.1]])) == (1, 0)
    assert best_choice(np.array([[0.1, 0.5], [0.1, 0.5]])) == (0, 1)
    assert best_choice(np.array([[np.nan, 0.4, 0.3]])) == (0, 1)


# ---- what is kept is what it says: the real trainer -------------------------------------------


def _retrained(task: FoldTask, ctx, recipe: Recipe, train_rows: np.ndarray) -> np.ndarray:
    trainer = TorchTrainer(registry.get_model(ctx.model), 3, ctx_device(ctx))
    job = TrainJob(
        task.fold.index,
        "check",
        task.fold.seed,
        recipe,
        train_rows,
        predict_rows=task.fold.test_idx,
    )
    (result,) = trainer.train([job], ctx.x, [task.labels])
    return result.predicted


def ctx_device(ctx):
    import torch

    return torch.device(ctx.device)


def test_val_subjects_predicts_with_the_weights_of_the_chosen_epoch_bit_for_bit():
    recipe = Recipe(optimizer="adam", lr=3e-2, batch_size=15, epochs=4, weight_decay=0.01)
    ctx, tasks, labels = small_problem("val-subjects", recipe=recipe, val_share=0.4)
    outputs = {t.fold.index: ctx.policy.conclude(run_fold(ctx, t), None) for t in tasks[:3]}
    assert any(o.selected_epoch < recipe.epochs for o in outputs.values())
    for task in tasks[:3]:
        out = outputs[task.fold.index]
        val = np.isin(task.groups, out.selection["val_subjects"])
        assert not val[task.fold.test_idx].any()
        rows = np.setdiff1d(task.fold.train_idx, np.flatnonzero(val))
        again = _retrained(task, ctx, recipe.override(epochs=out.selected_epoch), rows)
        assert np.array_equal(again, out.probs), task.fold.key


def test_nested_prediction_is_a_fixed_model_trained_for_the_chosen_epochs():
    recipe = Recipe(optimizer="adam", lr=3e-2, batch_size=15, epochs=3, weight_decay=0.01)
    ctx, tasks, labels = small_problem("nested", recipe=recipe, inner_folds=2)
    for task in tasks[:2]:
        out = ctx.policy.conclude(run_fold(ctx, task), None)
        again = _retrained(
            task, ctx, recipe.override(epochs=out.selected_epoch), task.fold.train_idx
        )
        assert np.array_equal(again, out.probs)
        assert out.selection["chosen_epoch"] == out.selected_epoch == out.epochs_trained


def test_fold_parallel_stacks_inner_folds_and_grid_points_and_matches_sequential():
    recipe = Recipe(optimizer="adam", lr=1e-2, batch_size=15, epochs=2, weight_decay=0.01)
    options = {"inner_folds": 2, "grid": {"lr": [1e-2, 3e-3]}}
    ctx, tasks, labels = small_problem("nested", recipe=recipe, **options)
    sequential = collect(make_executor("sequential"), ctx, tasks[:3], labels)
    parallel = make_executor("fold-parallel")
    stacked = collect(parallel, ctx, tasks[:3], labels)
    assert parallel.used["max_models"] == 3 * 2 * 2  # all folds' inner x grid jobs at once
    for k, out in sequential.items():
        assert stacked[k].selection["grid_point"] == out.selection["grid_point"]
        assert stacked[k].selected_epoch == out.selected_epoch
        assert np.abs(stacked[k].probs - out.probs).max() < 1e-4


# ---- splits ------------------------------------------------------------------------------------


def test_validation_counts_follow_the_share_with_a_minimum_per_dataset():
    # A MEGC2019-sized LOSO fold: 15 % of 66 is 10, spread by size with largest remainders.
    assert validation_counts({"smic": 15, "casme2": 23, "samm": 28}, 0.15) == {
        "smic": 2,
        "casme2": 4,
        "samm": 4,
    }
    # The minimum wins over the share: every dataset with ENOUGH_SUBJECTS gives one.
    assert ENOUGH_SUBJECTS == 3
    assert validation_counts({"a": 2, "b": 3, "c": 10}, 0.15) == {"a": 0, "b": 1, "c": 2}
    # Every dataset keeps a training subject; with one subject each, the first largest gives.
    assert validation_counts({"a": 1, "b": 1}, 0.15) == {"a": 1, "b": 0}
    assert validation_counts({"a": 4}, 0.5) == {"a": 2}
    with pytest.raises(UsageError, match="at least two training subjects"):
        validation_counts({"a": 1}, 0.15)


def test_validation_subjects_are_training_subjects_drawn_from_the_fold_seed():
    task = three_dataset_task(seed=11)
    chosen = validation_subjects(task, 0.15)
    assert chosen == validation_subjects(three_dataset_task(seed=11), 0.15)
    training = set(task.groups[task.fold.train_idx])
    assert set(chosen) <= training and task.fold.key not in chosen
    # 21 training subjects (5 smic, 7 casme2, 9 samm): 15 % is 3, one per dataset
    assert sorted(c.split(":")[0] for c in chosen) == ["casme2", "samm", "smic"]
    draws = {tuple(validation_subjects(three_dataset_task(seed=s), 0.15)) for s in range(8)}
    assert len(draws) > 4  # another fold seed, another draw
    assert len(validation_subjects(task, 0.5)) == 11  # 10.5 rounds half up


def test_inner_folds_partition_the_training_subjects_by_subject():
    task = three_dataset_task()
    groups = inner_folds(task, 5)
    flat = [s for g in groups for s in g]
    assert sorted(flat) == sorted(set(task.groups[task.fold.train_idx]))
    assert len(flat) == len(set(flat)) == 21 and task.fold.key not in flat
    assert sorted(len(g) for g in groups) == [4, 4, 4, 4, 5]
    assert all({s.split(":")[0] for s in g} == {"smic", "casme2", "samm"} for g in groups)
    assert groups == inner_folds(three_dataset_task(), 5)
    assert groups != inner_folds(three_dataset_task(seed=12), 5)
    # each inner job trains on whole subjects the inner group does not hold
    policy = make_policy("nested")
    for job in policy.begin(task, RECIPE).next_jobs([]):
        trained = set(task.groups[job.train_rows])
        scored = set(task.groups[job.monitor_rows])
        assert not trained & scored and trained | scored == set(flat)
    with pytest.raises(UsageError, match="--inner-folds 22 is more than the 21 training"):
        inner_folds(task, 22)
    with pytest.raises(UsageError, match="--inner-folds must be an integer of at least 2"):
        make_policy("nested", inner_folds=1)


def test_policies_check_each_fold_before_training():
    small = three_dataset_task(sizes={"smic": 2, "casme2": 1}, held_out="smic:s00")
    with pytest.raises(UsageError, match="--inner-folds 3 is more than the 2 training"):
        make_policy("nested", inner_folds=3).check_fold(small)
    make_policy("val-subjects").check_fold(small)
    alone = three_dataset_task(sizes={"smic": 2}, held_out="smic:s00")
    with pytest.raises(UsageError, match="at least two training subjects"):
        make_policy("val-subjects").check_fold(alone)
    with pytest.raises(UsageError, match="--val-share"):
        make_policy("val-subjects", val_share=1.0)


# ---- the grid ----------------------------------------------------------------------------------


def test_grid_values_are_typed_and_points_are_their_product():
    grid = parse_grid(["lr=1e-4,5e-5", "batch_size=32,64", "optimizer=adam,sgd"])
    assert grid == {"lr": [1e-4, 5e-5], "batch_size": [32, 64], "optimizer": ["adam", "sgd"]}
    assert isinstance(grid["batch_size"][0], int) and isinstance(grid["lr"][0], float)
    points = grid_points(grid)
    assert len(points) == 8 and points[0] == {"batch_size": 32, "lr": 1e-4, "optimizer": "adam"}
    assert points[1] == {"batch_size": 32, "lr": 1e-4, "optimizer": "sgd"}
    assert grid_points({}) == [{}]
    policy = make_policy("val-subjects", grid={"lr": [1e-4, 5e-5]})
    assert policy.options() == {"val_share": 0.15, "grid": {"lr": [1e-4, 5e-5]}}
    assert policy.jobs_per_fold() == 2


@pytest.mark.parametrize(
    "values, message",
    [
        (["lrr=1e-4"], "--grid recipe field 'lrr' is unknown; did you mean lr"),
        (["epochs=5,10"], "not a grid field"),
        (["batch_size=32.5"], "'32.5' is not an int"),
        (["lr=fast"], "'fast' is not a float"),
        (["lr=1e-4", "lr=1e-3"], "given twice"),
        (["lr=1e-4,1e-4"], "repeated"),
        (["lr=-1"], "out of range"),
        (["optimizer=adamx"], "optimizer must be one of"),
        (["lr"], "FIELD=VALUE"),
        (["lr=1,2,3,4,5,6", "batch_size=1,2,3,4,5,6"], "36 points; at most 32"),
    ],
)
def test_grid_errors_name_the_problem(values, message):
    with pytest.raises(UsageError, match=message):
        parse_grid(values)


@pytest.mark.parametrize("policy, options", [("val-subjects", {}), ("nested", {"inner_folds": 2})])
def test_local_workers_run_the_choosing_policies_bit_for_bit(policy, options):
    """Worker processes get the policy with the run context and run the same rounds."""
    recipe = Recipe(optimizer="adam", lr=1e-2, batch_size=15, epochs=2, weight_decay=0.01)
    ctx, tasks, labels = small_problem(policy, recipe=recipe, **options)
    sequential = collect(make_executor("sequential"), ctx, tasks[:2], labels)
    local = collect(make_executor("local", workers=2), ctx, tasks[:2], labels)
    for k, out in sequential.items():
        assert np.array_equal(local[k].probs, out.probs)
        assert local[k].selection == out.selection
