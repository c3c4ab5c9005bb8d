"""Seeds as one experiment: the same configuration run for several seeds, summarised together.

`run_experiment(config, seeds, store)` runs `config` once per seed through the engine; each seed
is an ordinary stored run (its own run id, folds and predictions) carrying the experiment's id
(`runs.experiment_id`), and all of them share one `group_hash` (the identity without the seed).
Resuming an experiment (`resume=EXPERIMENT_ID`) first checks that the configuration is the one
the experiment was made with, then resumes each unfinished seed's run, starts the seeds that have
no run yet, and leaves the finished ones alone.

The summary (`summarize_experiment`) is recomputed from the stored predictions, as every score
is: per seed the pooled scores, over seeds their mean and sample standard deviation, and the 95 %
interval of the seed mean from a bootstrap over subjects of the pooled predictions (each resample
draws subjects once and scores every seed on them, `mer_bench.results.stats.bootstrap_ci`).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mer_bench.core import progress
from mer_bench.run.engine import RunConfig, prepare_run, run_benchmark
from mer_bench.core.errors import MerBenchError, UsageError
from mer_bench.core.identity import RunIdentity
from mer_bench.results.metrics import metric_names
from mer_bench.results.stats import Interval, SeedSpread, bootstrap_ci, seed_spread
from mer_bench.results.store import RunRecord, Store, new_run_id
from mer_bench.results.summary import RunSummary, summarize_run
from mer_bench.core.keys import sample_key

log = logging.getLogger(__name__)

#: At most this many seeds in one experiment (each is a whole run).
MAX_SEEDS = 100

_SEED_PART = re.compile(r"(\d+)(?:-(\d+))?")


def parse_seeds(text: str) -> list[int]:
    """`--seeds` as a list: `0-4` (a range, both ends included), `0,1,2`, or both (`0-2,7`)."""
    seeds: list[int] = []
    for part in str(text).split(","):
        match = _SEED_PART.fullmatch(part.strip())
        if not match:
            raise UsageError(
                f"--seeds expects non-negative integers and ranges like 0-4 or 0,1,2; got {text!r}"
            )
        low, high = int(match[1]), int(match[2] if match[2] is not None else match[1])
        if high < low:
            raise UsageError(f"--seeds range {part.strip()!r} runs backwards")
        if high - low >= MAX_SEEDS:
            raise UsageError(f"--seeds {text!r}: at most {MAX_SEEDS} seeds")
        seeds += range(low, high + 1)
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds {text!r} names a seed twice")
    if len(seeds) > MAX_SEEDS:
        raise UsageError(f"--seeds {text!r}: at most {MAX_SEEDS} seeds")
    return seeds


def new_experiment_id() -> str:
    """A sortable, unique experiment id (a run id with an `exp-` prefix)."""
    return f"exp-{new_run_id()}"


def experiment_runs(store: Store, experiment_id: str) -> list[RunRecord]:
    """The runs of an experiment (a unique prefix of its id is accepted), in seed order."""
    ids = {r.experiment_id for r in store.runs() if r.experiment_id}
    matches = (
        [experiment_id]
        if experiment_id in ids
        else sorted(i for i in ids if i.startswith(experiment_id))
    )
    if not matches:
        raise MerBenchError(f"no experiment '{experiment_id}' in {store.where}")
    if len(matches) > 1:
        raise MerBenchError(
            f"experiment id prefix '{experiment_id}' is ambiguous in "
            f"{store.where}: {', '.join(matches[:5])}"
        )
    runs = [r for r in store.runs() if r.experiment_id == matches[0]]
    return sorted(runs, key=lambda r: (r.seed, r.started_at, r.run_id))


def is_experiment(store: Store, experiment_id: str) -> bool:
    """Whether `experiment_id` names (or uniquely prefixes) an experiment in `store`."""
    try:
        experiment_runs(store, experiment_id)
    except MerBenchError:
        return False
    return True


@dataclass(frozen=True)
class ExperimentSummary:
    """An experiment's scores: per seed, mean ± sd over seeds, subject-bootstrap interval."""

    experiment_id: str
    runs: list[RunSummary]  # every seed's run with stored folds, in seed order
    complete: list[bool]  # per run: every fold stored and the run finished
    spread: dict[str, SeedSpread]  # over the complete runs
    interval: dict[str, Interval]  # of the seed mean, over the complete runs
    n_resamples: int

    @property
    def seeds(self) -> list[int]:
        return [int(r.seed) for r in self.runs]

    def as_dict(self) -> dict[str, Any]:
        first = self.runs[0] if self.runs else None
        return {
            "experiment_id": self.experiment_id,
            "model": first.model if first else None,
            "protocol": first.protocol if first else None,
            "source": first.source if first else None,
            "selection": first.selection if first else None,
            "epochs": first.epochs if first else None,
            "seeds": self.seeds,
            "runs": [
                {
                    "run_id": r.run_id,
                    "seed": r.seed,
                    "status": r.status,
                    "complete": c,
                    **r.report.pooled.values,
                    "seconds": r.seconds,
                }
                for r, c in zip(self.runs, self.complete)
            ],
            "mean": {m: s.mean for m, s in self.spread.items()},
            "sd": {m: s.sd for m, s in self.spread.items()},
            "n_seeds": sum(self.complete),
            "ci95": {m: [i.low, i.high] for m, i in self.interval.items()},
            "bootstrap_resamples": self.n_resamples,
        }


def _seed_config(config: RunConfig, seed: int, experiment_id: str) -> RunConfig:
    return dataclasses.replace(config, seed=seed, experiment_id=experiment_id)


def _check_same_configuration(config: RunConfig, runs: Sequence[RunRecord]) -> None:
    """UsageError unless `config` is the configuration the stored runs were made with."""
    identity = prepare_run(config).identity
    for run in runs:
        if run.group_hash != identity.group_hash:
            differences = [
                d
                for d in identity.differences(RunIdentity.from_dict(run.identity))
                if not d.startswith("seed:")
            ]
            raise UsageError(
                f"experiment {run.experiment_id} was made with another configuration "
                f"({'; '.join(differences[:4]) or 'identity version'}); resume it "
                "with the same options"
            )


def run_experiment(
    config: RunConfig, seeds: Sequence[int] | None, store: Store, resume: str | None = None
) -> ExperimentSummary:
    """Run `config` for every seed as one experiment (or resume one); see the module docstring.
    On resume, `seeds` None means the experiment's stored seeds; a list must contain them."""
    if resume:
        stored = experiment_runs(store, resume)
        experiment_id = stored[0].experiment_id
        stored_seeds = sorted({r.seed for r in stored})
        seeds = list(seeds) if seeds else stored_seeds
        left_out = [s for s in stored_seeds if s not in seeds]
        if left_out:
            raise UsageError(
                f"experiment {experiment_id} has seeds "
                f"{', '.join(map(str, stored_seeds))}; --seeds leaves out "
                f"{', '.join(map(str, left_out))}"
            )
        _check_same_configuration(_seed_config(config, seeds[0], experiment_id), stored)
        latest = {r.seed: r for r in stored}  # the last started run of each seed
    else:
        if not seeds:
            raise UsageError("an experiment needs at least one seed (--seeds)")
        experiment_id, latest = config.experiment_id or new_experiment_id(), {}
    progress.message(f"experiment {experiment_id}")
    counts = store.fold_counts()
    with progress.tracked(f"experiment {experiment_id}: seeds", len(seeds)) as bar:
        for seed in seeds:
            previous = latest.get(seed)
            if (
                previous is not None
                and previous.status == "finished"
                and counts.get(previous.run_id, 0) >= previous.n_folds
            ):
                log.info("seed %d: run %s is finished", seed, previous.run_id)
            else:
                log.info(
                    "seed %d: %s",
                    seed,
                    f"resuming run {previous.run_id}" if previous else "starting",
                )
                run_benchmark(
                    _seed_config(config, seed, experiment_id),
                    store,
                    resume=previous.run_id if previous else None,
                )
            bar.advance()
    return summarize_experiment(store, experiment_id, config.device)


def summarize_experiment(
    store: Store, experiment_id: str, device: str = "cpu", n_resamples: int = 1000, seed: int = 0
) -> ExperimentSummary:
    """The experiment's summary, recomputed from its stored predictions (see the module
    docstring). Runs without folds are left out; partial runs are listed, not averaged."""
    runs = experiment_runs(store, experiment_id)
    counts = store.fold_counts()
    latest = {r.seed: r for r in runs}
    kept = [r for r in latest.values() if counts.get(r.run_id, 0)]
    summaries = [summarize_run(store, r, device) for r in kept]
    complete = [r.status == "finished" and counts.get(r.run_id, 0) >= r.n_folds for r in kept]
    done = [r for r, c in zip(kept, complete) if c]
    spread, interval = {}, {}
    if done:
        values = [s.report.pooled.values for s, c in zip(summaries, complete) if c]
        spread = {m: seed_spread([v[m] for v in values]) for m in metric_names()}
        labels, preds, groups = _aligned_predictions(store, done)
        interval = bootstrap_ci(
            labels, preds, groups, len(done[0].classes), n_resamples=n_resamples, seed=seed
        )
    return ExperimentSummary(
        runs[0].experiment_id, summaries, complete, spread, interval, n_resamples
    )


def _aligned_predictions(
    store: Store, runs: Sequence[RunRecord]
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Labels, each run's predictions and subject groups, on the same samples in one order."""
    keys = ["dataset", "subject", "sample"]
    tables = [store.predictions(r.run_id).sort_values(keys).reset_index(drop=True) for r in runs]
    first = tables[0]
    for run, table in zip(runs[1:], tables[1:]):
        if not (
            len(table) == len(first) and table[keys + ["label"]].equals(first[keys + ["label"]])
        ):
            raise MerBenchError(
                f"run {run.run_id} of experiment {run.experiment_id} predicted "
                f"other samples than run {runs[0].run_id}"
            )
    groups = sample_key(first["dataset"], first["subject"]).to_numpy()
    return first["label"].to_numpy(), [t["pred"].to_numpy() for t in tables], groups
