"""The trainer: one training loop per framework, used by every executor and selection policy.

`TorchTrainer.train(jobs, ...)` trains torch jobs one model at a time (`SingleModel`; what the
`sequential`, `local` and `ray` executors run) or all at once as one stacked model
(`StackedModels`; what `fold-parallel` runs); the loop is the same either way: the batch
schedule, the optimiser factory, per-epoch monitoring and recording, keeping the best weights,
the final prediction. `EstimatorTrainer` fits one-shot estimators (fit / predict_proba).

The trainer never sees a held-out label: jobs train and monitor only rows whose labels are
visible, and it refuses a job that asks otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from mer_bench.core.cards import ModelSpec, Recipe
from mer_bench.core.errors import MerBenchError
from mer_bench.core.au_labels import decode_au_labels
from mer_bench.results.metrics import au_scores, grouped_confusions, metric_values
from mer_bench.run.training.jobs import HIDDEN, JobResult, TrainJob
from mer_bench.run.training.augment import Augmenter, make_augmenter
from mer_bench.run.training.losses import Loss, make_loss
from mer_bench.run.training.replicas import SingleModel, StackedModels
from mer_bench.run.training.schedule import epoch_steps, shuffler

#: (epochs done, epochs in all) of the current training call.
EpochCallback = Callable[[int, int], None]


def input_tensor(x: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """The inputs as a tensor on `device`, float32 unless they are uint8 (converted per batch)."""
    if isinstance(x, torch.Tensor):
        return x.to(device)
    dtype = torch.uint8 if np.asarray(x).dtype == np.uint8 else torch.float32
    if isinstance(x, np.memmap) or not np.asarray(x).flags.writeable:
        x = np.array(x)  # a read-only memory map: torch needs its own (writable) copy
    return torch.as_tensor(x, dtype=dtype, device=device)


def _check_visible(job: TrainJob, labels: np.ndarray) -> None:
    for what, rows in (("trains on", job.train_rows), ("monitors", job.monitor_rows)):
        if len(rows) and (labels[rows] == HIDDEN).any():
            raise MerBenchError(
                f"job {job.key} of fold {job.fold_index} {what} rows whose labels "
                "are held out: a selection policy may only use training subjects"
            )
    if not len(job.train_rows):
        raise MerBenchError(f"job {job.key} of fold {job.fold_index} has no training rows")


def _monitor_score(
    probs: np.ndarray, labels: np.ndarray, metric: str, num_classes: int, multilabel: bool = False
) -> float:
    if multilabel:  # AU tasks monitor their own metric: the mean per-AU F1 (MEB's AU-F1)
        return float(au_scores(decode_au_labels(labels, num_classes), probs)["au_f1"])
    cm = grouped_confusions(labels, probs.argmax(axis=1), np.zeros(len(labels)), num_classes, [0])
    return float(metric_values(cm[0])[metric])


class TorchTrainer:
    """Trains torch models (see the module docstring)."""

    #: Whether it trains over epochs (so selection policies can choose among them).
    has_epochs = True
    #: Whether `train(..., stacked=True)` works (fold-parallel).
    can_stack = True

    def __init__(
        self, spec: ModelSpec, num_classes: int, device: torch.device, multilabel: bool = False
    ) -> None:
        self.spec, self.num_classes, self.device = spec, num_classes, device
        self.multilabel = multilabel

    def train(
        self,
        jobs: Sequence[TrainJob],
        x: np.ndarray | torch.Tensor,
        labels: Sequence[np.ndarray],
        stacked: bool = False,
        autocast: torch.dtype | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> list[JobResult]:
        """Train `jobs` (labels[k]: the visible labels of job k's fold) and return their results,
        in order. Unstacked, one job after another; stacked, all at once (they must share a
        recipe except for the epoch count)."""
        for job, visible in zip(jobs, labels):
            _check_visible(job, visible)
        x_all = input_tensor(x, self.device)
        if not stacked:
            total = sum(j.recipe.epochs for j in jobs)
            results, done = [], 0
            for job, visible in zip(jobs, labels):

                def progress(epoch: int, _total: int, base: int = done) -> None:
                    if on_epoch is not None:
                        on_epoch(base + epoch, total)

                results += self._train(
                    [job],
                    x_all,
                    [visible],
                    lambda job=job, visible=visible: SingleModel(
                        self.spec,
                        job.seed,
                        job.recipe,
                        self.num_classes,
                        self.device,
                        *self._pieces(job, visible),
                        multilabel=self.multilabel,
                    ),
                    progress,
                )
                done += job.recipe.epochs
            return results
        recipes = {_without_epochs(j.recipe) for j in jobs}
        if len(recipes) != 1:
            raise ValueError("stacked jobs must share their recipe (except epochs)")
        epochs = {j.recipe.epochs for j in jobs}
        batches = {len(_batches(len(j.train_rows), j.recipe.batch_size)) for j in jobs}
        shared = len(epochs) == 1 and len(batches) == 1
        pieces = [self._pieces(j, visible) for j, visible in zip(jobs, labels)]
        return self._train(
            jobs,
            x_all,
            labels,
            lambda: StackedModels(
                self.spec,
                [j.seed for j in jobs],
                jobs[0].recipe,
                self.num_classes,
                self.device,
                autocast,
                shared_steps=shared,
                losses=[p[0] for p in pieces],
                augments=[p[1] for p in pieces],
                multilabel=self.multilabel,
            ),
            on_epoch,
        )

    def _pieces(self, job: TrainJob, visible: np.ndarray) -> tuple[Loss, Augmenter | None]:
        """The job's loss (from the class counts of its own training rows) and augmentations
        (with a generator of its own seed), as its recipe declares them. AU tasks train every
        job with the per-AU sigmoid loss (`au_loss`)."""
        if self.multilabel:
            from mer_bench.run.training.au_loss import PerAUSigmoid

            return PerAUSigmoid(self.num_classes), make_augmenter(job.recipe.augment, job.seed)
        return (
            make_loss(job.recipe.loss, visible[job.train_rows], self.num_classes),
            make_augmenter(job.recipe.augment, job.seed),
        )

    def _train(
        self,
        jobs: Sequence[TrainJob],
        x_all: torch.Tensor,
        labels: Sequence[np.ndarray],
        build: Callable[[], Any],
        on_epoch: EpochCallback | None,
    ) -> list[JobResult]:
        """The one loop, for one model or K stacked ones."""
        start = time.perf_counter()
        models = build()
        # The labels visible to any of the jobs (HIDDEN is -1, below every class). A job reads
        # only its own training and monitor rows, which `_check_visible` found visible to it.
        y_all = torch.as_tensor(
            np.max(np.stack(labels), axis=0), dtype=torch.long, device=self.device
        )
        generators = [shuffler(j.seed) for j in jobs]
        batch_size = jobs[0].recipe.batch_size
        max_epochs = max(j.recipe.epochs for j in jobs)
        monitored = np.array([len(j.monitor_rows) > 0 for j in jobs])
        recording = [len(j.record_rows) > 0 for j in jobs]
        scores: list[list[float]] = [[] for _ in jobs]
        best = [-np.inf] * len(jobs)
        kept = [0] * len(jobs)
        recorded: list[list[np.ndarray]] = [[] for _ in jobs]
        for epoch in range(max_epochs):
            training = [epoch < j.recipe.epochs for j in jobs]
            for step in epoch_steps([j.train_rows for j in jobs], generators, batch_size, training):
                models.train_step(x_all, y_all, step)
            now_monitored = monitored & np.array(training)
            if now_monitored.any():
                probs = models.predict(
                    x_all,
                    [
                        j.monitor_rows if m else j.monitor_rows[:0]
                        for j, m in zip(jobs, now_monitored)
                    ],
                    batch_size,
                )
                improved = np.zeros(len(jobs), dtype=bool)
                for k in np.flatnonzero(now_monitored):
                    value = _monitor_score(
                        probs[k],
                        labels[k][jobs[k].monitor_rows],
                        jobs[k].monitor_metric,
                        self.num_classes,
                        self.multilabel,
                    )
                    scores[k].append(value)
                    if value > best[k]:  # strictly better: ties keep the earlier epoch
                        best[k], kept[k] = value, epoch + 1
                        improved[k] = jobs[k].keep == "best"
                models.keep(improved)
            if any(r and t for r, t in zip(recording, training)):
                rows = [
                    j.record_rows if r and t else j.record_rows[:0]
                    for j, r, t in zip(jobs, recording, training)
                ]
                for k, probs in enumerate(models.predict(x_all, rows, batch_size)):
                    if recording[k] and training[k]:
                        recorded[k].append(probs)
            if on_epoch is not None:
                on_epoch(epoch + 1, max_epochs)
        use_best = np.array([j.keep == "best" for j in jobs])
        models.restore(use_best)
        wanted = [j.predict_rows for j in jobs]
        predicted = (
            models.predict(x_all, wanted, batch_size)
            if any(len(r) for r in wanted)
            else [None] * len(jobs)
        )
        seconds = (time.perf_counter() - start) / len(jobs)
        weights = [models.state_dict_of(k) if j.keep_weights else None for k, j in enumerate(jobs)]
        return [
            JobResult(
                fold_index=j.fold_index,
                key=j.key,
                epochs_trained=j.recipe.epochs,
                kept_epoch=kept[k] if j.keep == "best" else j.recipe.epochs,
                monitor_scores=tuple(scores[k]),
                predicted=predicted[k] if len(j.predict_rows) else None,
                recorded=np.stack(recorded[k]) if recorded[k] else None,
                seconds=seconds,
                weights=weights[k],
            )
            for k, j in enumerate(jobs)
        ]


def _without_epochs(recipe: Recipe) -> Recipe:
    import dataclasses

    return dataclasses.replace(recipe, epochs=0)


def _batches(n: int, batch_size: int) -> list:
    from mer_bench.run.training.schedule import batch_slices

    return batch_slices(n, batch_size)


class EstimatorTrainer:
    """Fits one-shot estimators: `fit(x, y, seed)` on the training rows, `predict_proba` once."""

    has_epochs = False
    can_stack = False

    def __init__(
        self,
        spec: ModelSpec,
        num_classes: int,
        device: torch.device | None = None,
        multilabel: bool = False,
    ) -> None:
        self.spec, self.num_classes, self.multilabel = spec, num_classes, multilabel

    def train(
        self,
        jobs: Sequence[TrainJob],
        x: np.ndarray,
        labels: Sequence[np.ndarray],
        stacked: bool = False,
        autocast: Any = None,
        on_epoch: EpochCallback | None = None,
    ) -> list[JobResult]:
        x = np.asarray(x)
        results = []
        for job, visible in zip(jobs, labels):
            _check_visible(job, visible)
            if len(job.record_rows):
                raise MerBenchError(
                    f"{self.spec.card.name} is fitted once: it has no epochs to record"
                )
            if job.keep_weights:
                raise MerBenchError(
                    f"{self.spec.card.name} is a fitted estimator, not a torch "
                    "model: it has no weight tensors to save"
                )
            start = time.perf_counter()
            estimator = self.spec.build(self.num_classes)
            y = visible[job.train_rows]
            # an AU task's estimator gets its (N, A) 0/1 targets, not the bit masks
            estimator.fit(
                x[job.train_rows],
                decode_au_labels(y, self.num_classes) if self.multilabel else y,
                job.seed,
            )
            scores: tuple[float, ...] = ()
            if len(job.monitor_rows):
                probs = self._predict(estimator, x[job.monitor_rows])
                scores = (
                    _monitor_score(
                        probs,
                        visible[job.monitor_rows],
                        job.monitor_metric,
                        self.num_classes,
                        self.multilabel,
                    ),
                )
            predicted = (
                self._predict(estimator, x[job.predict_rows]) if len(job.predict_rows) else None
            )
            results.append(
                JobResult(
                    job.fold_index,
                    job.key,
                    0,
                    0,
                    scores,
                    predicted,
                    None,
                    time.perf_counter() - start,
                )
            )
        return results

    def _predict(self, estimator: Any, x: np.ndarray) -> np.ndarray:
        probs = np.asarray(estimator.predict_proba(x), dtype=np.float64)
        if probs.shape != (len(x), self.num_classes):
            raise MerBenchError(
                f"{self.spec.card.name}.predict_proba gave shape {probs.shape}, "
                f"expected {(len(x), self.num_classes)}"
            )
        return probs


#: The trainer of each model framework (`ModelCard.framework`).
TRAINERS: dict[str, type] = {"torch": TorchTrainer, "estimator": EstimatorTrainer}


def trainer_class(spec: ModelSpec) -> type[TorchTrainer] | type[EstimatorTrainer]:
    """The trainer class of `spec`'s framework (what it can do: `has_epochs`, `can_stack`)."""
    return TRAINERS[spec.card.framework]


def trainer_for(
    spec: ModelSpec, num_classes: int, device: torch.device, multilabel: bool = False
) -> TorchTrainer | EstimatorTrainer:
    """The trainer of `spec`'s framework (`multilabel`: an AU task, `num_classes` AUs)."""
    return trainer_class(spec)(spec, num_classes, device, multilabel)
