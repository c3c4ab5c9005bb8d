"""A benchmark run: resolve a protocol on a source, run its LOSO folds, store every fold.

The engine owns the fold loop. A model sees its fold's training rows only; the held-out subject is
predicted by the harness (see `mer_bench.training`), and each finished fold is committed to the
results database before the next is reported, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import mer_bench
from mer_bench import registry
from mer_bench.cards import ModelSpec, ProtocolSpec, Recipe, stable_hash
from mer_bench.data import ProtocolData
from mer_bench.errors import MerBenchError, UnknownNameError
from mer_bench.executors import FoldContext, make_executor
from mer_bench.folds import Fold, loso_folds
from mer_bench.metrics import resolve_device
from mer_bench.selection import POLICIES
from mer_bench.sources import SourceOptions, make_source
from mer_bench.store import FoldRecord, Store
from mer_bench.summary import RunSummary, summarize_run
from mer_bench.training import FoldOutput, policy_applies


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run. Recipe fields left None take the model card's values."""

    model: str
    protocol: str
    source: str = "demo"
    selection: str = "fixed"
    seed: int = 0
    device: str = "auto"
    executor: str = "local"
    workers: int | None = None
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    source_options: SourceOptions = field(default_factory=SourceOptions)

    def recipe(self, spec: ModelSpec) -> Recipe:
        """The effective recipe: the card's, with this run's overrides."""
        return spec.card.recipe.override(epochs=self.epochs, lr=self.lr, batch_size=self.batch_size)

    def config_hash(self, recipe: Recipe) -> str:
        """Identity of the computation (not of where it runs): equal hashes may be resumed."""
        # the source's data options (demo difficulty, flow method) change the data: part of it
        data_options = {k: v for k, v in self.source_options.extra.items() if k != "progress"}
        return stable_hash({"model": self.model, "protocol": self.protocol, "source": self.source,
                            "selection": self.selection, "seed": self.seed,
                            "recipe": dataclasses.asdict(recipe), "data": data_options})


def resolve_protocol_data(protocol: ProtocolSpec, source_name: str,
                          options: SourceOptions) -> ProtocolData:
    """The protocol's labelled samples and their input arrays from one source."""
    if source_name not in protocol.card.sources:
        raise MerBenchError(f"protocol '{protocol.card.name}' has no source '{source_name}' "
                            f"(it has: {', '.join(protocol.card.sources)})")
    source = make_source(source_name, options)
    samples = protocol.protocol.samples(source)
    # a protocol may attach what it noticed while resolving (e.g. label disagreements)
    protocol_notes = dict(samples.attrs.get("provenance", {}))
    arrays = source.arrays(samples)
    provenance = {**source.provenance(), **protocol_notes,
                  "manifest_version": protocol.protocol.manifest_version()}
    return ProtocolData(samples, arrays, protocol.card.classes, provenance)


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


def run_benchmark(config: RunConfig, store: Store, resume: str | None = None,
                  show_progress: bool = True) -> RunSummary:
    """Run (or resume) a benchmark and return its summary, recomputed from the stored folds."""
    spec = registry.get_model(config.model)
    protocol = registry.get_protocol(config.protocol)
    if config.selection not in POLICIES:
        raise UnknownNameError("selection policy", config.selection, POLICIES)
    if not policy_applies(spec, config.selection):
        raise MerBenchError(f"model '{config.model}' trains once ({spec.card.framework}); "
                            f"selection '{config.selection}' does not apply")
    if spec.card.input_kind != protocol.card.input_kind:
        raise MerBenchError(f"model '{config.model}' consumes {spec.card.input_kind} but protocol "
                            f"'{config.protocol}' yields {protocol.card.input_kind}")
    recipe = config.recipe(spec)
    device = resolve_device(config.device)
    config_hash = config.config_hash(recipe)
    if resume:
        previous = store.run(resume)
        if previous.config_hash != config_hash:
            raise MerBenchError(f"run {previous.run_id} was made with another configuration "
                                f"({previous.model}/{previous.protocol}/{previous.source}, "
                                f"selection {previous.selection}, seed {previous.seed}, recipe "
                                f"{previous.recipe}); resume it with the same options")
    data = resolve_protocol_data(protocol, config.source, config.source_options)
    prepare = spec.prepare_inputs or (lambda arrays: arrays.flow)
    x = np.ascontiguousarray(prepare(data.arrays), dtype=np.float32)
    folds = loso_folds(data, config.seed)
    executor = make_executor(config.executor, config.workers)
    provenance = {
        **data.provenance,
        "points_fallback": int(data.arrays.points_fallback.sum()),
        "executor": executor.describe(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    if resume:
        run_id = previous.run_id
        done = store.finished_folds(run_id)
    else:
        run_id = store.create_run(
            model=config.model, protocol=config.protocol, source=config.source,
            selection=config.selection, epochs=recipe.epochs, seed=config.seed,
            recipe=dataclasses.asdict(recipe), config_hash=config_hash,
            classes=list(protocol.card.classes), card=dataclasses.asdict(spec.card),
            provenance=provenance, mer_bench_version=mer_bench.__version__,
            git_commit=git_commit(), torch_version=torch.__version__,
            device_name=device_name(device), executor=executor.name, n_folds=len(folds),
        )
        done = set()
    todo = [f for f in folds if f.index not in done]
    ctx = FoldContext(config.model, recipe, config.selection, len(protocol.card.classes),
                      str(device), x, data.labels)
    samples = data.samples

    def commit(fold: Fold, output: FoldOutput) -> None:
        rows = samples.iloc[fold.test_idx]
        store.add_fold(run_id, FoldRecord(
            fold_index=fold.index, fold_key=fold.key, seed=fold.seed, n_train=len(fold.train_idx),
            epochs_trained=output.epochs_trained, selected_epoch=output.selected_epoch,
            seconds=output.seconds, datasets=rows["dataset"].tolist(),
            subjects=rows["subject"].astype(str).tolist(), samples=rows["sample"].astype(str).tolist(),
            labels=rows["label"].to_numpy(), probs=output.probs,
        ))

    started = time.perf_counter()
    try:
        with _progress(show_progress) as progress:
            fold_bar = progress.add_task(f"{config.model} on {config.protocol}", total=len(folds),
                                         completed=len(done))
            epoch_bar = progress.add_task("epochs", total=recipe.epochs,
                                          visible=bool(todo) and executor.reports_epochs)

            def on_done(fold: Fold, output: FoldOutput) -> None:
                commit(fold, output)
                progress.advance(fold_bar)

            def on_epoch(epoch: int, total: int) -> None:
                progress.update(epoch_bar, completed=epoch, total=total)

            executor.execute(ctx, todo, on_done, on_epoch)
    except KeyboardInterrupt:
        raise
    except Exception:
        store.finish_run(run_id, status="failed")
        raise
    provenance["executor"] = executor.describe()  # what the executor resolved while running
    provenance["wall_seconds"] = round(time.perf_counter() - started, 3)
    store.update_provenance(run_id, {**store.run(run_id).provenance, **provenance})
    store.finish_run(run_id)
    return summarize_run(store, run_id, config.device)


class _NullProgress:
    """Stands in for rich's Progress when bars are off (tests, --quiet, non-terminals)."""

    def __enter__(self) -> _NullProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def advance(self, *args: Any, **kwargs: Any) -> None:
        return None

    def update(self, *args: Any, **kwargs: Any) -> None:
        return None


def _progress(show: bool) -> Progress | _NullProgress:
    if not show:
        return _NullProgress()
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), transient=False)
