"""A final model: one model trained on every subject of a protocol, for use, never ranked.

`mer-bench train` resolves the protocol exactly as a benchmark run does (`engine.prepare_run`),
then trains one model on all of its samples with the declared recipe (the `fixed` rule: no
held-out fold, so nothing to choose an epoch on), through the one trainer, and stores it as a
run of kind `final`: one fold record (key `all`, no predictions) whose artifact is the model's
weights (`mer_bench.run.weights`). The board and every ranking skip final runs; `mer-bench predict
--run RUN_ID` applies the model.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass

import numpy as np

from mer_bench.core import progress
from mer_bench.run.engine import RunConfig, new_run_record, prepare_run
from mer_bench.core.errors import MerBenchError
from mer_bench.run.folds import derived_seed
from mer_bench.results.store import FoldRecord, Store
from mer_bench.run.training import TrainJob, trainer_for
from mer_bench.run.weights import check_can_save, check_weights_dir, save_fold_weights

log = logging.getLogger(__name__)

#: The key of a final run's one fold (it holds nothing out).
FINAL_KEY = "all"


@dataclass(frozen=True)
class FinalModel:
    """What `train_final` stored."""

    run_id: str
    artifact: str
    n_train: int
    n_subjects: int
    epochs: int
    seconds: float


def train_final(config: RunConfig, store: Store) -> FinalModel:
    """Train `config.model` on every sample of `config.protocol` and store it as a final run."""
    if config.selection != "fixed":
        raise MerBenchError(
            f"a final model has no held-out fold to choose on: it trains the "
            f"declared epochs (selection 'fixed'), not '{config.selection}'"
        )
    config = dataclasses.replace(config, executor="sequential", save_weights=False)
    run = prepare_run(config)
    check_can_save(run.spec, run.policy)
    if run.recipe.epochs < 1:
        raise MerBenchError(f"a final model needs at least one epoch (got {run.recipe.epochs})")
    check_weights_dir(store)  # a URL, or a file in the way: fail before training
    labels = run.labels
    n = len(labels)
    seed = derived_seed(config.seed, FINAL_KEY)
    record = dataclasses.replace(
        new_run_record(run),
        kind="final",
        n_folds=1,
        provenance={
            **run.provenance,
            "final": "trained on every subject of the protocol; no held-out fold",
        },
    )
    run_id = store.create_run(record)
    progress.message(f"final model {run_id}")
    trainer = trainer_for(run.spec, len(run.classes), run.device, run.context.multilabel)
    job = TrainJob(
        fold_index=0,
        key=FINAL_KEY,
        seed=seed,
        recipe=run.recipe,
        train_rows=np.arange(n),
        keep_weights=True,
    )
    bar = progress.task(f"{config.model} on all of {config.protocol}: epochs", run.recipe.epochs)
    start = time.perf_counter()
    try:
        (result,) = trainer.train(
            [job],
            run.context.x,
            [labels],
            on_epoch=lambda done, total: bar.update(completed=done, total=total),
        )
        artifact = save_fold_weights(store, store.run(run_id), 0, FINAL_KEY, seed, result.weights)
        store.add_fold(
            run_id,
            FoldRecord(
                fold_index=0,
                fold_key=FINAL_KEY,
                seed=seed,
                n_train=n,
                epochs_trained=result.epochs_trained,
                selected_epoch=result.kept_epoch,
                seconds=result.seconds,
                datasets=[],
                subjects=[],
                samples=[],
                labels=np.zeros(0, dtype=np.int64),
                probs=np.zeros((0, len(run.classes))),
                selection={"rule": "final: the declared epochs on every subject"},
                artifact=artifact,
            ),
        )
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        store.set_status(run_id, status, wall_seconds=round(time.perf_counter() - start, 3))
        raise
    finally:
        bar.close()
    wall = time.perf_counter() - start
    store.set_status(run_id, "finished", wall_seconds=round(wall, 3))
    subjects = int(
        run.samples["dataset"]
        .astype(str)
        .add(":")
        .add(run.samples["subject"].astype(str))
        .nunique()
    )
    log.info(
        "final model %s: %d samples of %d subjects, %d epochs, %.1f s",
        run_id,
        n,
        subjects,
        run.recipe.epochs,
        wall,
    )
    return FinalModel(run_id, artifact, n, subjects, run.recipe.epochs, wall)
