"""`mer-bench reproduce`: re-run a result file's run and say how far it agrees with the file.

A result file (the JSON `mer-bench export` writes, and every file in `results/`) holds a run's
identity: model, protocol, source, data by content, view, selection, recipe and seed. The file is
validated as `mer-bench import` validates it (a file edited after export is refused), its run is
rebuilt from that identity with the data found where the user says (`--data-root`), the new
data's identity is checked against the file's before any training (other data is refused), and
the run is trained again. Agreement is the share of samples given the same class, and the
differences of the recomputed scores; both runs are scored by the one metric module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mer_bench.core.errors import DataError
from mer_bench.core.identity import RunIdentity
from mer_bench.data.naming import canonical_ids
from mer_bench.results.store import Store
from mer_bench.results.submission import import_submission
from mer_bench.results.summary import RunSummary, summarize_run
from mer_bench.run.engine import RunConfig, prepare_run, resume_config, run_benchmark

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Agreement:
    """How a re-run agrees with a stored result (see the module docstring)."""

    result_file: str
    stored: RunSummary
    new: RunSummary
    same_class: float  # share of samples given the same class
    max_prob_difference: float
    stored_seconds: float | None
    new_seconds: float
    kept_in: str | None  # where the new run is stored (None: a temporary database, removed)

    def differences(self) -> dict[str, float]:
        """New minus stored, per pooled metric."""
        new, old = self.new.report.pooled.values, self.stored.report.pooled.values
        return {name: new[name] - old[name] for name in new}

    def as_dict(self) -> dict[str, Any]:
        return {
            "result_file": self.result_file,
            "stored_run": self.stored.run_id,
            "new_run": self.new.run_id,
            "kept_in": self.kept_in,
            "samples": self.new.n_samples,
            "same_class": self.same_class,
            "max_prob_difference": self.max_prob_difference,
            "stored": self.stored.report.pooled.values,
            "new": self.new.report.pooled.values,
            "difference": self.differences(),
            "stored_seconds": self.stored_seconds,
            "new_seconds": self.new_seconds,
        }


def reproduce(
    result_file: Path,
    source_values: Mapping[str, Any],
    run_values: Mapping[str, Any] | None = None,
    store: Store | None = None,
    device: str = "cpu",
) -> Agreement:
    """Re-run `result_file`'s run on the data `source_values` point to (its `data_root`, ...)
    and compare. `run_values` say how to run (device, executor, workers); `store` keeps the new
    run (None: a temporary database, removed afterwards)."""
    with (
        tempfile.TemporaryDirectory(prefix="mer-bench-reproduce-") as scratch,
        Store(Path(scratch) / "result.sqlite") as original,
    ):
        run_id, _ = import_submission(Path(result_file), original)
        record = original.run(run_id)
        config = dataclasses.replace(
            resume_config(record, source_values, **dict(run_values or {})),
            experiment_id=None,
            paired=(),
            command=None,
        )
        check_same_data(RunIdentity.from_dict(record.identity), config, result_file)
        with _scratch_store(store, Path(scratch)) as target:
            started = time.perf_counter()
            new = run_benchmark(config, target)
            seconds = time.perf_counter() - started
            same, max_diff = compare_predictions(original, run_id, target, new.run_id)
        return Agreement(
            str(result_file),
            summarize_run(original, record, device),
            new,
            same,
            max_diff,
            record.wall_seconds,
            seconds,
            None if store is None else store.where,
        )


@contextlib.contextmanager
def _scratch_store(store: Store | None, folder: Path) -> Iterator[Store]:
    """The store to keep the new run in, or a temporary one closed afterwards."""
    if store is not None:
        yield store
        return
    with Store(folder / "reproduced.sqlite") as scratch:
        yield scratch


def check_same_data(stored: RunIdentity, config: RunConfig, result_file: Path) -> None:
    """DataError (one line, nothing trained or stored) when the data found now is not the data
    the result was made on; other identity differences (a newer mer-bench) are logged."""
    prepared = prepare_run(dataclasses.replace(config, estimate=False))
    differences = prepared.identity.differences(stored)
    data = [d for d in differences if d.startswith("data.")]
    if data:
        raise DataError(
            f"{result_file}: the data found now is not the data of this result "
            f"({'; '.join(data[:3])}; now vs stored)"
        )
    for difference in differences:
        log.warning("%s: identity differs from the stored run's: %s", result_file, difference)


def compare_predictions(a: Store, run_a: str, b: Store, run_b: str) -> tuple[float, float]:
    """Share of samples given the same class by both runs, and the largest difference of a
    class probability, matched by canonical sample key."""

    def by_key(store: Store, run_id: str) -> dict[tuple[str, str, str], np.ndarray]:
        table = store.predictions(run_id)
        return {
            canonical_ids(d, su, sa): np.asarray(p, dtype=np.float64)
            for d, su, sa, p in table[["dataset", "subject", "sample", "probs"]].itertuples(
                index=False
            )
        }

    old, new = by_key(a, run_a), by_key(b, run_b)
    if set(old) != set(new):
        missing = sorted(set(old) ^ set(new))[:3]
        raise DataError(f"the re-run predicted other samples than the result ({missing})")
    keys = sorted(old)
    same = np.mean([old[k].argmax() == new[k].argmax() for k in keys])
    diff = max(float(np.abs(old[k] - new[k]).max()) for k in keys)
    return float(same), diff
