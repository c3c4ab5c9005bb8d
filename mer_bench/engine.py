"""A benchmark run: resolve a protocol on a source, run its folds under a policy, store each fold.

The engine owns the fold loop. It alone holds the held-out labels: every fold reaches the
trainer as a `FoldTask` whose held-out labels are hidden, the selection policy chooses from
training subjects only, and the engine concludes each fold (giving test labels only to a policy
that declares it reads them, the legacy best-on-test) and commits it to the results database
before the next is reported, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import platform
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import mer_bench
from mer_bench import progress, registry
from mer_bench.cards import ModelSpec, Recipe
from mer_bench.errors import MerBenchError
from mer_bench.eta import SAY_ABOVE_S, Estimate, estimate_run, eta_line
from mer_bench.executors import Executor, RunContext, make_executor
from mer_bench.folds import make_folds
from mer_bench.identity import RunIdentity
from mer_bench.metrics import resolve_device
from mer_bench.resolve import resolve_protocol_data
from mer_bench.selection import SelectionPolicy, make_policy
from mer_bench.sources import identity_of, make_source, source_options
from mer_bench.store import FoldRecord, RunRecord, Store, new_run_id
from mer_bench.summary import RunSummary, summarize_run
from mer_bench.training import FoldTask, FoldTrace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run and where it runs. Recipe fields left None take the model
    card's values; `source_options` None takes the source's defaults."""

    model: str
    protocol: str
    source: str = "demo"
    source_options: Any = None  # the source's typed options (`Source.Options`)
    selection: str = "fixed"
    selection_options: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    device: str = "auto"
    executor: str = "local"
    workers: int | None = None
    executor_options: Mapping[str, Any] = field(default_factory=dict)
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    experiment_id: str | None = None
    #: Time a short trial and say (and store) how long the run will take before it starts.
    estimate: bool = True
    save_weights: bool = False  # keep each fold's model next to the store (mer_bench.weights)

    def recipe(self, spec: ModelSpec) -> Recipe:
        """The effective recipe: the card's, with this run's overrides."""
        for flag, value, low in (("--epochs", self.epochs, 0), ("--batch-size", self.batch_size, 1),
                                 ("--lr", self.lr, 0)):
            if value is not None and not value >= low:
                raise MerBenchError(f"{flag} must be at least {low}, got {value}")
        try:
            return spec.card.recipe.override(epochs=self.epochs, lr=self.lr,
                                             batch_size=self.batch_size)
        except ValueError as exc:
            raise MerBenchError(str(exc)) from exc


@dataclass(frozen=True)
class PreparedRun:
    """A run ready to train: resolved data, folds, policy, executor, identity."""

    config: RunConfig
    spec: ModelSpec
    recipe: Recipe
    policy: SelectionPolicy
    executor: Executor
    identity: RunIdentity
    context: RunContext
    tasks: list[FoldTask]
    labels: np.ndarray
    samples: Any
    classes: tuple[str, ...]
    provenance: dict[str, Any]
    device: torch.device


def git_commit() -> str | None:
    """The commit of the mer-bench checkout this code runs from, when it is one."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(mer_bench.__file__).parent,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def check_device(name: str) -> torch.device:
    """The torch device for `--device`; one-line errors for unknown names and absent CUDA."""
    if name not in ("auto", "cpu") and not name.startswith("cuda"):
        raise MerBenchError(f"--device must be auto, cpu or cuda (or cuda:N), got {name!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise MerBenchError(f"--device {name}: no CUDA device is available here (torch "
                            f"{torch.__version__}); use --device cpu or auto")
    try:
        return resolve_device(name)
    except RuntimeError as exc:
        raise MerBenchError(f"--device {name}: {exc}") from exc


def prepare_run(config: RunConfig) -> PreparedRun:
    """Everything up to the first training step: names checked, data resolved, folds made."""
    spec = registry.get_model(config.model)
    protocol = registry.get_protocol(config.protocol)
    policy = make_policy(config.selection, **dict(config.selection_options))
    recipe = config.recipe(spec)
    view = spec.card.view_config()
    device = check_device(config.device)
    source_class = registry.SOURCES.get(config.source)  # an unknown name: exit 2, suggestions
    if config.source not in protocol.card.sources:
        raise MerBenchError(f"protocol '{protocol.card.name}' has no source '{config.source}' "
                            f"(it has: {', '.join(protocol.card.sources)})")
    if source_class.views is not None and view.name not in source_class.views:
        others = [n for n in protocol.card.sources if n in registry.SOURCES and (
            registry.SOURCES.get(n).views is None or view.name in registry.SOURCES.get(n).views)]
        raise MerBenchError(f"model '{config.model}' consumes the {view.name} view, which source "
                            f"'{config.source}' cannot give (it gives "
                            f"{', '.join(source_class.views)}): use "
                            f"{' or '.join(f'--source {n}' for n in others) or 'another model'}")
    options = config.source_options or source_options(config.source)
    executor = make_executor(config.executor, workers=config.workers,
                             **dict(config.executor_options))
    data = resolve_protocol_data(protocol, make_source(config.source, options), view)
    x = model_inputs(spec, data.arrays)
    groups = data.fold_keys().to_numpy()
    datasets = data.samples["dataset"].to_numpy()
    policy.check(spec, recipe, groups, datasets)
    folds = make_folds(protocol.card.split, data, config.seed)
    identity = RunIdentity(
        model=config.model, protocol=config.protocol, source=config.source,
        data=identity_of(options), view={"name": view.name, **view.params()},
        selection=config.selection, selection_options=policy.options(),
        recipe=recipe.as_dict(), seed=config.seed)
    trained_policy = policy
    if config.save_weights:  # the folds hand their models back; `policy` concludes as before
        from mer_bench.weights import KeepWeights, check_can_save

        check_can_save(spec, policy)
        trained_policy = KeepWeights(policy)
    context = RunContext(config.model, trained_policy, recipe, len(protocol.card.classes),
                         str(device), x)
    executor.check(context)
    labels = data.labels
    tasks = [FoldTask.hide_test_labels(f, labels, groups, datasets) for f in folds]
    for task in tasks:
        policy.check_fold(task)
    provenance = {
        **data.provenance,
        "inputs_sha256": _digest(x),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    if hasattr(data.arrays, "points_fallback"):
        provenance["points_fallback"] = int(data.arrays.points_fallback.sum())
    return PreparedRun(config, spec, recipe, policy, executor, identity, context, tasks, labels,
                       data.samples, protocol.card.classes, provenance, device)


def model_inputs(spec: ModelSpec, arrays: Any) -> np.ndarray:
    """What the model's forward receives for every sample: its `prepare_inputs(arrays)`, else
    the view's main array. float32 for float views; uint8 views (frames, clips) stay uint8,
    memory-mapped: the trainer converts each batch as it goes."""
    x = spec.prepare_inputs(arrays) if spec.prepare_inputs is not None else arrays.data
    if isinstance(x, np.ndarray) and x.dtype in (np.uint8, np.float32):
        return x if x.flags.c_contiguous else np.ascontiguousarray(x)
    return np.ascontiguousarray(x, dtype=np.float32)


def _digest(x: np.ndarray, chunk: int = 64) -> str:
    """A short hash of the inputs (read chunk by chunk: views may be memory-mapped)."""
    digest = hashlib.sha256()
    for start in range(0, len(x), chunk):
        digest.update(np.ascontiguousarray(x[start:start + chunk]).tobytes())
    return digest.hexdigest()[:16]


def new_run_record(run: PreparedRun, estimate: Estimate | None = None) -> RunRecord:
    """The runs-table row of a run about to start."""
    identity = run.identity
    return RunRecord(
        run_id=new_run_id(), model=run.config.model, protocol=run.config.protocol,
        source=run.config.source, view=str(identity.view.get("name")),
        selection=run.config.selection, seed=run.config.seed, identity=identity.as_dict(),
        config_hash=identity.config_hash, group_hash=identity.group_hash,
        recipe=run.recipe.as_dict(), classes=tuple(run.classes),
        card=dataclasses.asdict(run.spec.card),
        provenance={**run.provenance, "executor": run.executor.describe()},
        mer_bench_version=mer_bench.__version__, git_commit=git_commit(),
        torch_version=torch.__version__, device_name=device_name(run.device),
        executor=run.executor.name, n_folds=len(run.tasks), started_at=_now(), finished_at=None,
        status="running", experiment_id=run.config.experiment_id, host=socket.gethostname(),
        pid=os.getpid(), estimated_seconds=None if estimate is None else round(estimate.seconds, 1))


def _now() -> str:
    from mer_bench.store import now

    return now()


def run_benchmark(config: RunConfig, store: Store, resume: str | None = None) -> RunSummary:
    """Run (or resume) a benchmark and return its summary, recomputed from the stored folds.
    Progress (folds, and epochs where the executor reports them) goes to `mer_bench.progress`."""
    run = prepare_run(config)
    if config.save_weights:
        from mer_bench.weights import save_fold_weights, weights_dir

        weights_dir(store)  # a database URL has no folder for them: fail before training
    if resume:
        previous = store.run(resume)
        if previous.kind != "benchmark":
            raise MerBenchError(f"run {previous.run_id} is a {previous.kind} model (mer-bench "
                                "train), not a benchmark run: there is nothing to resume")
        if previous.config_hash != run.identity.config_hash:
            differences = run.identity.differences(RunIdentity.from_dict(previous.identity))
            raise MerBenchError(f"run {previous.run_id} was made with another configuration "
                                f"({'; '.join(differences[:4]) or 'identity version'}); resume it "
                                "with the same options")
        run_id = previous.run_id
        done = store.finished_folds(run_id)
        todo = [t for t in run.tasks if t.fold.index not in done]
        estimate = say_estimate(run, todo)
        store.set_status(run_id, "running", finished_at=None, host=socket.gethostname(),
                         pid=os.getpid())
        wall_before = previous.wall_seconds or 0.0
    else:
        todo = list(run.tasks)
        estimate = say_estimate(run, todo)
        run_id = store.create_run(new_run_record(run, estimate))
        done, wall_before = set(), 0.0
    samples, policy, labels = run.samples, run.policy, run.labels

    def on_done(task: FoldTask, trace: FoldTrace) -> None:
        fold = task.fold
        test_labels = labels[fold.test_idx] if policy.reads_test_labels else None
        output = policy.conclude(trace, test_labels)
        rows = samples.iloc[fold.test_idx]
        artifact = None
        if trace.weights is not None:
            artifact = save_fold_weights(store, store.run(run_id), fold.index, fold.key,
                                         fold.seed, trace.weights)
        store.add_fold(run_id, FoldRecord(
            fold_index=fold.index, fold_key=fold.key, seed=fold.seed, n_train=len(fold.train_idx),
            epochs_trained=output.epochs_trained, selected_epoch=output.selected_epoch,
            seconds=output.seconds, datasets=rows["dataset"].tolist(),
            subjects=rows["subject"].astype(str).tolist(),
            samples=rows["sample"].astype(str).tolist(), labels=rows["label"].to_numpy(),
            probs=output.probs, selection=output.selection or None, artifact=artifact))
        tracker.fold_done(fold.index, fold.key)

    started = time.perf_counter()
    progress.message(f"run {run_id}")
    tracker = RunTracker(f"{config.model} on {config.protocol}", run.tasks, done,
                         run.policy.epochs_per_fold(run.recipe))
    try:
        run.executor.execute(run.context, todo, on_done, tracker.epoch)
    except KeyboardInterrupt:
        _stop(store, run_id, "interrupted", wall_before + time.perf_counter() - started)
        raise
    except BaseException:
        _stop(store, run_id, "failed", wall_before + time.perf_counter() - started)
        raise
    finally:
        tracker.close()
    wall = wall_before + time.perf_counter() - started
    record = store.run(run_id)
    provenance = {**record.provenance, **run.provenance, "executor": run.executor.describe()}
    if estimate is not None:
        provenance["estimate"] = {**estimate.as_dict(), "measured_seconds": round(
            time.perf_counter() - started, 3), "folds": len(todo)}
    store.update_run(run_id, provenance=provenance)
    store.set_status(run_id, "finished", wall_seconds=round(wall, 3))
    log.info("run %s finished in %.1f s", run_id, wall)
    return summarize_run(store, run_id, config.device)


def say_estimate(run: PreparedRun, todo: list[FoldTask]) -> Estimate | None:
    """Time a short trial, log the ETA line (at INFO when the run takes over a minute)."""
    if not run.config.estimate or not todo:
        return None
    estimate = estimate_run(run, todo)
    if estimate is not None:
        level = logging.INFO if estimate.seconds > SAY_ABOVE_S else logging.DEBUG
        log.log(level, "%s", eta_line(run, estimate, len(todo)))
    return estimate


class RunTracker:
    """The run's progress as `mer_bench.progress` tasks: one for the whole run, counted in
    fold-epochs (so its time remaining is the run's), and one per fold in training. Reports come
    from every executor (worker processes report through the executor)."""

    def __init__(self, label: str, tasks: list[FoldTask], done: set[int], epochs_per_fold: int):
        self.per_fold = max(epochs_per_fold, 0)
        self.keys = {t.fold.index: t.fold.key for t in tasks}
        unit = self.per_fold or 1  # estimators: count folds
        self.run = progress.task(f"{label}: {len(tasks)} folds", len(tasks) * unit,
                                 completed=len(done) * unit)
        self.passed: dict[int, int] = {}
        self.finished = len(done)
        self.folds: dict[int, progress.ProgressTask] = {}

    def epoch(self, fold: int, done: int, total: int) -> None:
        if fold not in self.folds:
            self.folds[fold] = progress.task(f"  fold {self.keys.get(fold, fold)}", total)
        self.folds[fold].update(completed=done, total=total)
        self.passed[fold] = done
        self._update()

    def fold_done(self, fold: int, key: str) -> None:
        bar = self.folds.pop(fold, None)
        if bar is not None:
            bar.close()
        self.passed.pop(fold, None)
        self.finished += 1
        self._update()

    def _update(self) -> None:
        unit = self.per_fold or 1
        self.run.update(completed=self.finished * unit + sum(self.passed.values()))

    def close(self) -> None:
        for bar in self.folds.values():
            bar.close()
        self.run.close()


def _stop(store: Store, run_id: str, status: str, wall: float) -> None:
    """Record why a run stopped without losing what it stored (never raises over the cause)."""
    try:
        store.set_status(run_id, status, wall_seconds=round(wall, 3))
    except Exception:  # the database may be what failed; the original error matters more
        log.exception("could not mark run %s as %s", run_id, status)
