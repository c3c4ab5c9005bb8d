"""`local`: a run's folds spread over worker processes on this machine.

Each worker is a fresh `spawn`ed Python process (safe with torch's thread pools, on every OS)
with `cores // workers` intra-op threads: on a busy CPU, one thread per small fold beats several.
The run's context (model name, policy, recipe, input arrays) is sent once per worker, by the
pool's initializer; each task then carries only its fold (indices, seed, hidden-test labels).
Workers call the same `run_fold` as the sequential executor, so a fold's predictions are
bit-identical to the sequential run at the same intra-op thread count. Finished folds come back
to the driver as they finish; only the driver writes the results database.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing.managers import SyncManager
from typing import Any

import torch

from mer_bench.core import registry
from mer_bench.core.cards import ModelSpec
from mer_bench.core.lifeline import die_with_parent, starting_children
from mer_bench.run.executors.base import Executor, FoldDone, FoldEpoch, RunContext, run_fold
from mer_bench.run.training import FoldTask, FoldTrace

# Per worker process: the run's context and the driver's epoch queue, set by `_init_worker`.
_WORKER_CTX: RunContext | None = None
_WORKER_EPOCHS: Any = None

#: Seconds the driver waits for a fold before it reads the epoch queue again.
POLL_S = 0.25


def cpu_count() -> int:
    """Cores this process may use (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def shipped_specs(model: str) -> list[ModelSpec]:
    """Specs a fresh process cannot discover: those registered in this process only (tests,
    notebooks). Installed models are found through entry points and are not shipped."""
    spec = registry.get_model(model)
    return [spec] if registry.MODELS.origin(model) == registry.IN_PROCESS else []


def prepare_worker(threads: int, specs: Sequence[ModelSpec]) -> None:
    """Set up a worker process: its thread count, its allocator, and the in-process models of
    the driver."""
    torch.set_num_threads(max(1, threads))
    keep_freed_memory()
    for spec in specs:
        registry.register(spec)


def keep_freed_memory() -> None:
    """Ask glibc to keep large freed blocks instead of returning them to the system: a worker
    frees and re-allocates a model's worth of memory at every fold, and with the defaults each
    fold's first step paid the page faults again (HTNet: 3.1 s -> 0.74 s for the second fold's
    first step, model build 1.1 s -> 0.4 s; benchmarks/results/cpu_step.md). Linux glibc only;
    elsewhere nothing changes."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name or not hasattr(os, "sched_getaffinity"):
        return
    try:
        libc = ctypes.CDLL(name)
        m_trim_threshold, m_mmap_threshold = -1, -3  # mallopt parameters of glibc's malloc.h
        libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)
        libc.mallopt(m_trim_threshold, 2**31 - 1)
    except (OSError, AttributeError):
        return


def _init_worker(
    ctx: RunContext, threads: int, specs: Sequence[ModelSpec], epochs: Any, driver: int
) -> None:
    global _WORKER_CTX, _WORKER_EPOCHS
    die_with_parent(driver)  # first: a killed driver leaves no worker behind
    prepare_worker(threads, specs)
    _WORKER_CTX, _WORKER_EPOCHS = ctx, epochs


def _run_in_worker(task: FoldTask) -> FoldTrace:
    if _WORKER_CTX is None:
        raise RuntimeError("worker was started without its run context")
    index = task.fold.index

    def report(done: int, total: int) -> None:
        if _WORKER_EPOCHS is not None:
            _WORKER_EPOCHS.put((index, done, total))

    return run_fold(_WORKER_CTX, task, report)


def drain(epochs: Any, on_epoch: FoldEpoch | None) -> None:
    """Hand every queued (fold, done, total) report to `on_epoch`."""
    while True:
        try:
            report = epochs.get_nowait()
        except queue.Empty:
            return
        if on_epoch is not None:
            on_epoch(*report)


class LocalExecutor(Executor):
    """Folds over `workers` processes (default: one per core), one fold per task."""

    name = "local"
    description = "worker processes on this machine, one fold each (default)"

    option_help = {
        **Executor.option_help,
        "start_method": "how worker processes start: spawn (default) | forkserver | fork",
    }

    def __init__(self, workers: int | None = None, start_method: str = "spawn") -> None:
        super().__init__(workers)
        self.start_method = start_method
        self.threads: int | None = None
        self.processes: int | None = None

    def execute(
        self,
        ctx: RunContext,
        tasks: Sequence[FoldTask],
        on_done: FoldDone,
        on_epoch: FoldEpoch | None = None,
    ) -> None:
        if not tasks:
            return
        cores = cpu_count()
        self.processes = max(1, min(self.workers or cores, len(tasks)))
        self.threads = max(1, cores // self.processes)
        context = multiprocessing.get_context(self.start_method)
        manager, epochs = None, None
        pool, pending = None, {}
        try:
            # The pool starts its workers as tasks are submitted: SIGINT/SIGTERM wait until every
            # child has its arguments (a worker cut off mid-pickle prints a traceback).
            with starting_children():
                if on_epoch is not None:
                    manager = SyncManager(ctx=context)
                    manager.start(die_with_parent, (os.getpid(),))
                    epochs = manager.Queue()
                pool = ProcessPoolExecutor(
                    self.processes,
                    mp_context=context,
                    initializer=_init_worker,
                    initargs=(ctx, self.threads, shipped_specs(ctx.model), epochs, os.getpid()),
                )
                pending = {pool.submit(_run_in_worker, task): task for task in tasks}
            while pending:
                done, _ = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
                if epochs is not None:
                    drain(epochs, on_epoch)
                for future in done:
                    task = pending.pop(future)
                    on_done(task, future.result())
        except BaseException:
            if pool is not None:
                stop_pool(pool, pending)
            raise
        else:
            pool.shutdown(wait=True)
        finally:
            # Its process ends now, not at the driver's exit (no `shutdown` until it started).
            if getattr(manager, "shutdown", None) is not None:
                manager.shutdown()

    def describe(self) -> dict:
        return {
            "executor": self.name,
            "workers": self.processes or self.workers,
            "threads_per_worker": self.threads,
            "start_method": self.start_method,
        }


def stop_pool(pool: ProcessPoolExecutor, pending: dict[Future, FoldTask]) -> None:
    """Cancel queued folds and end the workers now (interrupt, failed fold, lost worker)."""
    for future in pending:
        future.cancel()
    processes = list(getattr(pool, "_processes", {}).values())  # no public handle before 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=10)
