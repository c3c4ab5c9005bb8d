"""Training: the one trainer per framework (`trainer`), the models it trains (`replicas`), the
batch schedule (`schedule`), the optimiser factory (`optim`) and what flows through it (`jobs`)."""

from mer_bench.run.training.jobs import HIDDEN, FoldOutput, FoldTask, FoldTrace, JobResult, TrainJob
from mer_bench.run.training.schedule import batch_slices
from mer_bench.run.training.trainer import (
    EpochCallback,
    EstimatorTrainer,
    TorchTrainer,
    trainer_class,
    trainer_for,
)

__all__ = [
    "HIDDEN",
    "EpochCallback",
    "EstimatorTrainer",
    "FoldOutput",
    "FoldTask",
    "FoldTrace",
    "JobResult",
    "TorchTrainer",
    "TrainJob",
    "batch_slices",
    "trainer_class",
    "trainer_for",
]
