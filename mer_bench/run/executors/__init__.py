"""Executors run a run's folds (`--executor`); the fold is the unit of work and of storage.
Each executor is one module registered under the `mer_bench.executors` entry-point group."""

from mer_bench.run.executors.base import (
    Executor,
    FoldDone,
    FoldEpoch,
    RunContext,
    SequentialExecutor,
    run_fold,
)
from mer_bench.core.registry import EXECUTORS

__all__ = [
    "EXECUTORS",
    "Executor",
    "FoldDone",
    "FoldEpoch",
    "RunContext",
    "SequentialExecutor",
    "make_executor",
    "run_fold",
]


def make_executor(name: str, **options) -> Executor:
    """The executor registered as `name`, built with `options` (workers, address, chunk, ...)."""
    return EXECUTORS.create(name, **options)
