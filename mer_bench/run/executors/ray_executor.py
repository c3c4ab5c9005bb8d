"""`ray`: a run's folds as Ray tasks, on a local Ray instance or an existing cluster.

`address` (`--ray-address`; `auto` joins the cluster this machine belongs to) joins a running
cluster; without one a local instance with `workers` CPUs is started for the run and stopped
after it. The run context
is put in Ray's object store once (shared memory per node) and every task reads it from there;
each task runs `run_fold` exactly as the sequential executor does and returns its output to the
driver, which alone writes the results database. Ray is optional: `pip install .[ray]`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from mer_bench.core.errors import MerBenchError
from mer_bench.run.executors.base import Executor, FoldDone, FoldEpoch, RunContext, run_fold
from mer_bench.run.executors.local import cpu_count, prepare_worker, shipped_specs
from mer_bench.run.training import FoldTask, FoldTrace

#: Intra-op threads per fold task (each task asks Ray for one CPU).
TASK_THREADS = 1


def import_ray() -> Any:
    """Ray, imported on first use; a clear error when the optional extra is missing."""
    try:
        import ray
    except ImportError as exc:
        raise MerBenchError(
            "executor 'ray' needs Ray: pip install 'mer-bench[ray]' "
            "(or pip install .[ray] in a checkout)"
        ) from exc
    return ray


def _ray_fold(ctx: RunContext, task: FoldTask, specs: list, epochs: Any = None) -> FoldTrace:
    """A fold as a Ray task (the context arrives from the object store); its epochs are put on
    the driver's queue actor when there is one."""
    prepare_worker(TASK_THREADS, specs)
    index = task.fold.index

    def report(done: int, total: int) -> None:
        if epochs is not None:
            epochs.put_nowait((index, done, total))

    return run_fold(ctx, task, report if epochs is not None else None)


class RayExecutor(Executor):
    """Folds as Ray tasks, one CPU each; results reported to the driver as they finish."""

    name = "ray"
    description = "Ray tasks on a local instance or a cluster (--ray-address)"

    option_help = {
        **Executor.option_help,
        "address": "the Ray cluster to join ('auto': this machine's; default: a new "
        "local one); also --ray-address or $MER_BENCH_RAY_ADDRESS",
    }

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        super().__init__(workers)
        self.address = address or None
        self.cluster_cpus: float | None = None

    def execute(
        self,
        ctx: RunContext,
        tasks: Sequence[FoldTask],
        on_done: FoldDone,
        on_epoch: FoldEpoch | None = None,
    ) -> None:
        if not tasks:
            return
        ray = import_ray()
        started = not ray.is_initialized()
        if started and self.address:
            ray.init(address=self.address, log_to_driver=False)
        elif started:
            ray.init(
                num_cpus=self.workers or cpu_count(), include_dashboard=False, log_to_driver=False
            )
        pending: dict = {}
        try:
            self.cluster_cpus = ray.cluster_resources().get("CPU")
            specs = shipped_specs(ctx.model)
            for spec in specs:  # in-process models travel by value: workers cannot import them
                module = sys.modules.get(getattr(spec.build, "__module__", ""), None)
                if module is not None and not module.__name__.startswith("mer_bench"):
                    ray.cloudpickle.register_pickle_by_value(module)
            remote = ray.remote(num_cpus=TASK_THREADS)(_ray_fold)
            ctx_ref = ray.put(ctx)
            epochs = None
            if on_epoch is not None:
                from ray.util.queue import Queue

                epochs = Queue(actor_options={"num_cpus": 0})
            pending = {remote.remote(ctx_ref, task, specs, epochs): task for task in tasks}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=0.25)
                while epochs is not None and not epochs.empty():
                    on_epoch(*epochs.get_nowait())
                if done:
                    task = pending.pop(done[0])
                    on_done(task, ray.get(done[0]))
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            if started:
                ray.shutdown()

    def describe(self) -> dict:
        return {
            "executor": self.name,
            "workers": self.workers,
            "address": self.address or "local",
            "cluster_cpus": self.cluster_cpus,
            "threads_per_task": TASK_THREADS,
        }
