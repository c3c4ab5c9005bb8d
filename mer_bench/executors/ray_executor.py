"""`ray`: a run's folds as Ray tasks, on a local Ray instance or an existing cluster.

`--ray-address auto` (or $MER_BENCH_RAY_ADDRESS) joins a running cluster; without an address a
local instance with `workers` CPUs is started for the run and stopped after it. The run context
is put in Ray's object store once (shared memory per node) and every task reads it from there;
each task runs `run_fold` exactly as the sequential executor does and returns its output to the
driver, which alone writes the results database. Ray is optional: `pip install .[ray]`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from mer_bench.errors import MerBenchError
from mer_bench.executors import Executor, FoldContext, FoldDone, run_fold
from mer_bench.executors.local import cpu_count, prepare_worker, shipped_specs
from mer_bench.folds import Fold
from mer_bench.training import EpochCallback, FoldOutput

#: Environment variable read when no address is given (what `mer-bench run --ray-address` sets).
RAY_ADDRESS_ENV = "MER_BENCH_RAY_ADDRESS"
#: Intra-op threads per fold task (each task asks Ray for one CPU).
TASK_THREADS = 1


def import_ray() -> Any:
    """Ray, imported on first use; a clear error when the optional extra is missing."""
    try:
        import ray
    except ImportError as exc:
        raise MerBenchError("executor 'ray' needs Ray: pip install 'mer-bench[ray]' "
                            "(or pip install .[ray] in a checkout)") from exc
    return ray


def _ray_fold(ctx: FoldContext, fold: Fold, specs: list) -> FoldOutput:
    """A fold as a Ray task (the context arrives from the object store)."""
    prepare_worker(TASK_THREADS, specs)
    return run_fold(ctx, fold)


class RayExecutor(Executor):
    """Folds as Ray tasks, one CPU each; results reported to the driver as they finish."""

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        super().__init__(workers)
        self.address = address or os.environ.get(RAY_ADDRESS_ENV) or None
        self.cluster_cpus: float | None = None

    def execute(self, ctx: FoldContext, folds: Sequence[Fold], on_done: FoldDone,
                on_epoch: EpochCallback | None = None) -> None:
        if not folds:
            return
        ray = import_ray()
        started = not ray.is_initialized()
        if started and self.address:
            ray.init(address=self.address, log_to_driver=False)
        elif started:
            ray.init(num_cpus=self.workers or cpu_count(), include_dashboard=False,
                     log_to_driver=False)
        pending: dict = {}
        try:
            self.cluster_cpus = ray.cluster_resources().get("CPU")
            specs = shipped_specs(ctx.model)
            for spec in specs:  # in-process models travel by value: workers cannot import them
                module = sys.modules.get(getattr(spec.build, "__module__", ""), None)
                if module is not None and not module.__name__.startswith("mer_bench"):
                    ray.cloudpickle.register_pickle_by_value(module)
            task = ray.remote(num_cpus=TASK_THREADS)(_ray_fold)
            ctx_ref = ray.put(ctx)
            pending = {task.remote(ctx_ref, fold, specs): fold for fold in folds}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                fold = pending.pop(done[0])
                on_done(fold, ray.get(done[0]))
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            if started:
                ray.shutdown()

    def describe(self) -> dict:
        return {"executor": self.name, "workers": self.workers, "address": self.address or "local",
                "cluster_cpus": self.cluster_cpus, "threads_per_task": TASK_THREADS}
