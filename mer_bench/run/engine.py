"""A benchmark run: resolve a protocol on a source, run its folds under a policy, store each fold.

The engine owns the fold loop. It alone holds the held-out labels: every fold reaches the
trainer as a `FoldTask` whose held-out labels are hidden, the selection policy chooses from
training subjects only, and the engine concludes each fold (giving test labels only to a policy
that declares it reads them, the legacy best-on-test) and commits it to the results database
before the next is reported, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import errno
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
from mer_bench.core import progress, registry
from mer_bench.core.cards import ModelSpec, Recipe
from mer_bench.core.errors import MerBenchError, RunInterrupted, RunStoreFailed, UsageError
from mer_bench.run.eta import SAY_ABOVE_S, Estimate, estimate_run, eta_line
from mer_bench.run.executors import Executor, RunContext, make_executor
from mer_bench.run.folds import make_folds
from mer_bench.core.identity import RunIdentity
from mer_bench.results.metrics import resolve_device
from mer_bench.data.resolve import resolve_protocol_data
from mer_bench.run.selection import SelectionPolicy, make_policy
from mer_bench.run.selection.wrap import RecordHeldOut
from mer_bench.data.sources import identity_of, make_source, source_options
from mer_bench.results.store import FoldRecord, RunRecord, Store, StoreError, new_run_id
from mer_bench.results.summary import RunSummary, summarize_run
from mer_bench.run.training import FoldTask, FoldTrace

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
    save_weights: bool = False  # keep each fold's model next to the store (mer_bench.run.weights)
    #: Policies concluded from this run's own trained models, each stored as a run of its own
    #: (`--paired best-on-test`: the leak measured on the same models; see `SelectionPolicy.
    #: pairs_with`). Not part of the identity: each paired run has its own.
    paired: tuple[str, ...] = ()
    #: The command line that started the run, as typed (stored in its provenance, never used).
    command: str | None = None

    def recipe(self, spec: ModelSpec) -> Recipe:
        """The effective recipe: the card's, with this run's overrides. A trained model needs at
        least one epoch, a positive learning rate and batch size; an estimator (fitted once)
        has none of the three, so overrides of them are ignored (with a warning) and never
        stored, and a sweep over every model with `--epochs N` still runs it."""
        from mer_bench.run.training import trainer_class

        overrides = (
            ("--epochs", self.epochs),
            ("--lr", self.lr),
            ("--batch-size", self.batch_size),
        )
        if not trainer_class(spec).has_epochs:
            given = [flag for flag, value in overrides if value is not None]
            if given:
                log.warning(
                    "%s: not used by model '%s' (an estimator, fitted once per fold)",
                    ", ".join(given),
                    spec.card.name,
                )
            return spec.card.recipe
        for flag, value in overrides:
            if value is not None and not value > 0:
                raise UsageError(
                    f"{flag} must be {'positive' if flag == '--lr' else 'at least 1'}"
                    f", got {value:g}"
                )
        try:
            recipe = spec.card.recipe.override(
                epochs=self.epochs, lr=self.lr, batch_size=self.batch_size
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        if recipe.epochs < 1:
            raise UsageError(
                f"model '{spec.card.name}' trains for {recipe.epochs} epochs: give "
                "--epochs 1 or more (nothing trained is nothing to score)"
            )
        _check_pieces(recipe)
        return recipe


def _check_pieces(recipe: Recipe) -> None:
    """The recipe's loss and augmentations exist and take their options (one line, before any
    data is read, rather than in a worker once training starts)."""
    from mer_bench.core.registry import AUGMENTATIONS, LOSSES

    LOSSES.get(recipe.loss)
    for augment in recipe.augment:
        AUGMENTATIONS.create(augment.name, **augment.kwargs())


@dataclass(frozen=True)
class PreparedRun:
    """A run ready to train: resolved data, folds, policy, executor, identity."""

    config: RunConfig
    spec: ModelSpec
    recipe: Recipe
    policy: SelectionPolicy
    executor: Executor
    identity: RunIdentity
    #: (policy, identity) of each paired run (`RunConfig.paired`).
    paired: list[tuple[SelectionPolicy, RunIdentity]]
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
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(mer_bench.__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
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
        raise UsageError(f"--device must be auto, cpu or cuda (or cuda:N), got {name!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise MerBenchError(
            f"--device {name}: no CUDA device is available here (torch "
            f"{torch.__version__}); use --device cpu or auto"
        )
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
        raise MerBenchError(
            f"protocol '{protocol.card.name}' has no source '{config.source}' "
            f"(it has: {', '.join(protocol.card.sources)})"
        )
    if not source_class.can_give(view):
        others = [
            n
            for n in protocol.card.sources
            if n in registry.SOURCES and registry.SOURCES.get(n).can_give(view)
        ]
        raise MerBenchError(
            f"model '{config.model}' consumes the {view.name} view, which source "
            f"'{config.source}' cannot give here: use "
            f"{' or '.join(f'--source {n}' for n in others) or 'another model'}"
        )
    if protocol.card.task == "au":
        test_chosen = [p.name for p in (policy, *paired_policies(config)) if p.reads_test_labels]
        if test_chosen:  # its epoch choice scores accuracy of an argmax: no AU-task meaning
            raise UsageError(
                f"--selection/--paired {test_chosen[0]} chooses by test-set "
                f"accuracy, which AU task '{protocol.card.name}' does not have; "
                "use an honest policy"
            )
    options = config.source_options or source_options(config.source)
    executor = make_executor(
        config.executor, workers=config.workers, **dict(config.executor_options)
    )
    data = resolve_protocol_data(protocol, make_source(config.source, options), view)
    x = model_inputs(spec, data.arrays)
    groups = data.fold_keys().to_numpy()
    datasets = data.samples["dataset"].to_numpy()
    policy.check(spec, recipe, groups, datasets)
    folds = make_folds(protocol.card.split, data, config.seed)
    identity = RunIdentity(
        model=config.model,
        protocol=config.protocol,
        source=config.source,
        data=data.data_identity or identity_of(options),
        view={"name": view.name, **view.params()},
        selection=config.selection,
        selection_options=policy.options(),
        recipe=recipe.as_dict(),
        seed=config.seed,
    )
    paired = [
        (p, dataclasses.replace(identity, selection=p.name, selection_options=p.options()))
        for p in paired_policies(config)
    ]
    trained_policy = RecordHeldOut(policy) if paired else policy
    if config.save_weights:  # the folds hand their models back; `policy` concludes as before
        from mer_bench.run.weights import KeepWeights, check_can_save

        check_can_save(spec, policy)
        trained_policy = KeepWeights(trained_policy)
    context = RunContext(
        config.model,
        trained_policy,
        recipe,
        len(protocol.card.classes),
        str(device),
        x,
        task=protocol.card.task,
    )
    executor.check(context)
    labels = data.labels
    tasks = [FoldTask.hide_test_labels(f, labels, groups, datasets) for f in folds]
    for task in tasks:
        policy.check_fold(task)
    provenance = {
        **data.provenance,
        "source_options": location_options(options),
        "machine": machine(),
        "inputs_sha256": _digest(x),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    if hasattr(data.arrays, "points_fallback"):
        provenance["points_fallback"] = int(data.arrays.points_fallback.sum())
    if config.command:
        provenance["command"] = config.command
    return PreparedRun(
        config,
        spec,
        recipe,
        policy,
        executor,
        identity,
        paired,
        context,
        tasks,
        labels,
        data.samples,
        protocol.card.classes,
        provenance,
        device,
    )


def paired_policies(config: RunConfig) -> list[SelectionPolicy]:
    """The `--paired` policies, each checked to be concludable from `config.selection`'s models
    (a one-line usage error otherwise)."""
    out = []
    for name in dict.fromkeys(config.paired):
        policy = make_policy(name)
        if config.selection not in policy.pairs_with or name == config.selection:
            able = ", ".join(policy.pairs_with) or "none"
            raise UsageError(
                f"--paired {name} cannot be concluded from --selection "
                f"{config.selection} runs (it pairs with: {able})"
            )
        out.append(policy)
    return out


def location_options(options: Any) -> dict[str, Any]:
    """The source's own options that say where its data is (not how fast, not where caches go),
    as plain values: what `resume_config` needs when the identity holds the data's content."""
    from mer_bench.data.sources import SourceOptions

    common = {f.name for f in dataclasses.fields(SourceOptions)}
    out = {}
    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        if f.name in common or value is None:
            continue
        if isinstance(value, Path):
            out[f.name] = str(value.expanduser().resolve())
        elif isinstance(value, (str, int, float, bool)):
            out[f.name] = value
    return out


def machine() -> dict[str, Any]:
    """The machine a run ran on, as a reader of its results needs it: processor model, cores,
    and the GPU where CUDA is used."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    out: dict[str, Any] = {"cpu": cpu, "cores": os.cpu_count()}
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
    return out


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
        digest.update(np.ascontiguousarray(x[start : start + chunk]).tobytes())
    return digest.hexdigest()[:16]


def new_run_record(
    run: PreparedRun, estimate: Estimate | None = None, identity: RunIdentity | None = None
) -> RunRecord:
    """The runs-table row of a run about to start (`identity`: a paired run's, else the run's)."""
    identity = identity or run.identity
    return RunRecord(
        run_id=new_run_id(),
        model=run.config.model,
        protocol=run.config.protocol,
        source=run.config.source,
        view=str(identity.view.get("name")),
        selection=identity.selection,
        seed=run.config.seed,
        identity=identity.as_dict(),
        config_hash=identity.config_hash,
        group_hash=identity.group_hash,
        recipe=run.recipe.as_dict(),
        classes=tuple(run.classes),
        card=dataclasses.asdict(run.spec.card),
        provenance={**run.provenance, "executor": run.executor.describe()},
        mer_bench_version=mer_bench.__version__,
        git_commit=git_commit(),
        torch_version=torch.__version__,
        device_name=device_name(run.device),
        executor=run.executor.name,
        n_folds=len(run.tasks),
        started_at=_now(),
        finished_at=None,
        status="running",
        experiment_id=run.config.experiment_id if identity is run.identity else None,
        host=socket.gethostname(),
        pid=os.getpid(),
        estimated_seconds=None if estimate is None else round(estimate.seconds, 1),
    )


def _now() -> str:
    from mer_bench.results.store import now

    return now()


def resume_config(
    record: RunRecord, source_values: Mapping[str, Any] | None = None, **run_values: Any
) -> RunConfig:
    """The configuration that resumes stored run `record`: model, protocol, source and its data
    options, selection and its options, recipe and seed from the run's stored identity, and its
    executor. `source_values` (the source's options given now: where the data and caches are,
    workers) and `run_values` (RunConfig fields given now: device, executor, ...) go on top; a
    given value that changes the identity is caught by `run_benchmark`'s identity check."""
    identity = RunIdentity.from_dict(record.identity)
    spec = registry.get_model(identity.model)
    options_type = registry.SOURCES.get(identity.source).Options
    types = {f.name: f for f in dataclasses.fields(options_type)}
    # Where the data was (not part of the identity when the source identifies it by content):
    # the run's record of its location options, then the identity's own fields over them.
    stored = {k: v for k, v in record.provenance.get("source_options", {}).items() if k in types}
    data: dict[str, Any] = {
        k: Path(v) if isinstance(v, str) and "Path" in str(types[k].type) else v
        for k, v in stored.items()
    }
    for key, value in identity.data.items():
        f = types.get(key)
        default = (
            None
            if f is None
            else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            )
        )
        if f is None or dataclasses.is_dataclass(default):
            continue  # stored as its hash: the default is what the identity check compares
        data[key] = Path(value) if isinstance(value, str) and "Path" in str(f.type) else value
    data.update({k: v for k, v in (source_values or {}).items() if v is not None})
    recipe = identity.recipe
    from mer_bench.run.training import trainer_class

    trained = trainer_class(spec).has_epochs
    config = RunConfig(
        model=identity.model,
        protocol=identity.protocol,
        source=identity.source,
        source_options=source_options(identity.source, **data),
        selection=identity.selection,
        selection_options=dict(identity.selection_options),
        seed=identity.seed,
        executor=record.executor,
        experiment_id=record.experiment_id,
        paired=tuple(record.provenance.get("paired_runs", {})),
        epochs=recipe.get("epochs") if trained else None,
        lr=recipe.get("lr") if trained else None,
        batch_size=recipe.get("batch_size") if trained else None,
    )
    return dataclasses.replace(config, **{k: v for k, v in run_values.items() if v is not None})


def run_benchmark(config: RunConfig, store: Store, resume: str | None = None) -> RunSummary:
    """Run (or resume) a benchmark and return its summary, recomputed from the stored folds.
    Progress (folds, and epochs where the executor reports them) goes to `mer_bench.core.progress`.

    Resuming a finished (or imported) run changes nothing and returns its summary; resuming a
    run that another live process on this host is training is refused. Ctrl-C (or SIGTERM, where
    the caller turns it into KeyboardInterrupt) marks the run `interrupted` and raises
    `RunInterrupted`, which names the run and how to resume it."""
    from mer_bench.results.run_status import live_elsewhere

    previous = store.run(resume) if resume else None
    if previous is not None and live_elsewhere(previous):
        raise MerBenchError(
            f"run {previous.run_id} is being trained by process "
            f"{previous.pid} on this host: stop it before resuming"
        )
    run = prepare_run(config)
    if config.save_weights:
        from mer_bench.run.weights import check_weights_dir, save_fold_weights

        check_weights_dir(store)  # a URL, or a file in the way: fail before training
    if previous is not None:
        if previous.kind != "benchmark":
            raise MerBenchError(
                f"run {previous.run_id} is a {previous.kind} model (mer-bench "
                "train), not a benchmark run: there is nothing to resume"
            )
        if previous.provenance.get("paired_with"):
            primary = previous.provenance["paired_with"]
            raise UsageError(
                f"run {previous.run_id} is concluded from the models of run "
                f"{primary}: resume that run (mer-bench run --resume {primary})"
            )
        if previous.config_hash != run.identity.config_hash:
            differences = run.identity.differences(RunIdentity.from_dict(previous.identity))
            raise UsageError(
                f"run {previous.run_id} was made with another configuration "
                f"({'; '.join(differences[:4]) or 'identity version'}; given vs "
                f"stored); --resume {previous.run_id} alone resumes it as it was made"
            )
        paired_ids = previous.provenance.get("paired_runs", {})
        targets = [_Target(previous.run_id, run.policy)]
        for policy, identity in run.paired:
            if policy.name not in paired_ids:
                raise UsageError(
                    f"run {previous.run_id} was not started with --paired "
                    f"{policy.name}; resume it without"
                )
            targets.append(_Target(paired_ids[policy.name], policy, identity))
        for target in targets:
            target.done = store.finished_folds(target.run_id)
        if previous.status in ("finished", "imported") and all(
            len(t.done) >= previous.n_folds for t in targets
        ):
            log.info(
                "run %s is already %s (%d/%d folds): nothing to resume, nothing changed",
                previous.run_id,
                previous.status,
                len(targets[0].done),
                previous.n_folds,
            )
            return summarize_run(store, previous, config.device)
        done = set.intersection(*(t.done for t in targets))
        todo = [t for t in run.tasks if t.fold.index not in done]
        estimate = say_estimate(run, todo)
        for target in targets:
            store.set_status(
                target.run_id,
                "running",
                finished_at=None,
                host=socket.gethostname(),
                pid=os.getpid(),
            )
        wall_before = previous.wall_seconds or 0.0
    else:
        todo = list(run.tasks)
        estimate = say_estimate(run, todo)
        targets = [_Target(store.create_run(new_run_record(run, estimate)), run.policy)]
        for policy, identity in run.paired:
            record = new_run_record(run, estimate, identity)
            record.provenance["paired_with"] = targets[0].run_id
            targets.append(_Target(store.create_run(record), policy, identity))
        if len(targets) > 1:
            first = store.run(targets[0].run_id)
            store.update_run(
                first.run_id,
                provenance={
                    **first.provenance,
                    "paired_runs": {t.policy.name: t.run_id for t in targets[1:]},
                },
            )
        done, wall_before = set(), 0.0
    run_id = targets[0].run_id
    samples, labels = run.samples, run.labels
    stored = [len(done)]

    def on_done(task: FoldTask, trace: FoldTrace) -> None:
        fold = task.fold
        rows = samples.iloc[fold.test_idx]
        for target in targets:
            if fold.index in target.done:
                continue  # stored before an interruption that came before its pair was
            policy = target.policy
            test_labels = labels[fold.test_idx] if policy.reads_test_labels else None
            output = policy.conclude(trace, test_labels)
            artifact = None
            if trace.weights is not None and target.identity is None:
                artifact = save_fold_weights(
                    store, store.run(run_id), fold.index, fold.key, fold.seed, trace.weights
                )
            store.add_fold(
                target.run_id,
                FoldRecord(
                    fold_index=fold.index,
                    fold_key=fold.key,
                    seed=fold.seed,
                    n_train=len(fold.train_idx),
                    epochs_trained=output.epochs_trained,
                    selected_epoch=output.selected_epoch,
                    seconds=output.seconds,
                    datasets=rows["dataset"].tolist(),
                    subjects=rows["subject"].astype(str).tolist(),
                    samples=rows["sample"].astype(str).tolist(),
                    labels=rows["label"].to_numpy(),
                    probs=output.probs,
                    selection=output.selection or None,
                    artifact=artifact,
                ),
            )
        stored[0] += 1
        tracker.fold_done(fold.index, fold.key)

    started = time.perf_counter()
    progress.message(
        f"run {run_id}" + "".join(f" (+ {t.policy.name} run {t.run_id})" for t in targets[1:])
    )
    tracker = RunTracker(
        f"{config.model} on {config.protocol}",
        run.tasks,
        done,
        run.policy.epochs_per_fold(run.recipe),
    )
    try:
        run.executor.execute(run.context, todo, on_done, tracker.epoch)
    except KeyboardInterrupt:
        for target in targets:
            _stop(store, target.run_id, "interrupted", wall_before + time.perf_counter() - started)
        raise RunInterrupted(
            run_id, _stored_folds(store, run_id, stored[0]), len(run.tasks)
        ) from None
    except BaseException as exc:
        if storage_failure(exc):
            raise _store_failed(
                store,
                targets,
                exc,
                stored[0],
                len(run.tasks),
                wall_before + time.perf_counter() - started,
            ) from None
        for target in targets:
            _stop(store, target.run_id, "failed", wall_before + time.perf_counter() - started)
        raise
    finally:
        tracker.close()
    wall = wall_before + time.perf_counter() - started
    try:
        for target in targets:
            record = store.run(target.run_id)
            provenance = {
                **record.provenance,
                **run.provenance,
                "executor": run.executor.describe(),
            }
            if estimate is not None:
                provenance["estimate"] = {
                    **estimate.as_dict(),
                    "measured_seconds": round(time.perf_counter() - started, 3),
                    "folds": len(todo),
                }
            store.update_run(target.run_id, provenance=provenance)
            store.set_status(target.run_id, "finished", wall_seconds=round(wall, 3))
    except StoreError as exc:  # every fold is stored; a resume only marks it finished
        raise _store_failed(store, targets, exc, stored[0], len(run.tasks), wall) from None
    log.info("run %s finished in %.1f s", run_id, wall)
    return summarize_run(store, run_id, config.device)


@dataclass
class _Target:
    """A run the folds are stored into: the run's own, or a paired run (with its identity)."""

    run_id: str
    policy: SelectionPolicy
    identity: RunIdentity | None = None
    done: set[int] = field(default_factory=set)


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
    """The run's progress as `mer_bench.core.progress` tasks: one for the whole run, counted in
    fold-epochs (so its time remaining is the run's), and one per fold in training. Reports come
    from every executor (worker processes report through the executor)."""

    def __init__(self, label: str, tasks: list[FoldTask], done: set[int], epochs_per_fold: int):
        self.per_fold = max(epochs_per_fold, 0)
        self.keys = {t.fold.index: t.fold.key for t in tasks}
        unit = self.per_fold or 1  # estimators: count folds
        self.run = progress.task(
            f"{label}: {len(tasks)} folds", len(tasks) * unit, completed=len(done) * unit
        )
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


def _stored_folds(store: Store, run_id: str, counted: int) -> int:
    """Folds of the run in the database (what a resume keeps); the count seen here if the
    database cannot say."""
    try:
        return len(store.finished_folds(run_id))
    except Exception:  # the database may be what failed
        return counted


def _stop(store: Store, run_id: str, status: str, wall: float) -> bool:
    """Record why a run stopped without losing what it stored (never raises over the cause);
    whether the database took the write."""
    try:
        store.set_status(run_id, status, wall_seconds=round(wall, 3))
    except Exception as exc:  # the database may be what failed; the original error matters more
        log.debug(
            "could not mark run %s as %s: %s",
            run_id,
            status,
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        )
        return False
    return True


#: OSError numbers of a store (or the weights beside it) that cannot take a write: full disk,
#: quota, file size limit, read-only file system, I/O error.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO})


def storage_failure(exc: BaseException) -> bool:
    """Whether `exc` is the results database (or the disk it and the weights are on) failing,
    not the run's own code: the run stops, resumable, instead of being marked failed."""
    return isinstance(exc, StoreError) or (isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS)


def _store_failed(
    store: Store, targets: list[_Target], exc: BaseException, counted: int, total: int, wall: float
) -> RunStoreFailed:
    """The one-line error of a run whose store failed: marked interrupted where the database
    still takes a write (each of its runs), resumable in any case."""
    tried = [
        _stop(store, t.run_id, "interrupted", wall) for t in targets
    ]  # each, not all()'s first
    marked = all(tried)
    cause = (
        str(exc)
        if isinstance(exc, StoreError)
        else (f"{exc.filename or store.where}: {exc.strerror or exc}")
    )
    run_id = targets[0].run_id
    return RunStoreFailed(run_id, _stored_folds(store, run_id, counted), total, cause, marked)
