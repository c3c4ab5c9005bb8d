"""Running benchmarks: the engine's fold loop, selection policies, the trainer, executors,
experiments over seeds, final models and prediction. Imports data, results and core."""
