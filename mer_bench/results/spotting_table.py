"""The spotting ranking of a protocol, from stored spotting runs (scores recomputed).

Each run stored by `mer-bench spot run` (JSON under the cache's `spotting-runs/`) keeps its
predictions and the truth it was scored against; the ranking recomputes every figure from them
with `spotting_report`, never trusting the stored numbers, and shows each run's chance line
(the F1 of a uniform spotter with the same number and lengths of intervals).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mer_bench.core.errors import DataError
from mer_bench.results.spotting_metrics import (
    Interval,
    LengthLimits,
    PredictedInterval,
    TruthInterval,
    spotting_report,
)


@dataclass(frozen=True)
class SpottingRow:
    """One run of the ranking."""

    run_id: str
    spotter: str
    source: str
    seed: int
    micro_f1: float
    macro_f1: float
    f1: float
    chance_f1: float
    tp: int
    n_pred: int
    n_gt: int


def _row(path: Path, record: dict, limits: dict[str, LengthLimits]) -> SpottingRow:
    try:
        truth = [
            TruthInterval(
                t["dataset"],
                t["subject"],
                t["video"],
                Interval(t["onset"], t["offset"]),
                t["kind"],
                t.get("emotion"),
            )
            for t in record["truth"]
        ]
        predictions = [
            PredictedInterval(p["video"], Interval(p["onset"], p["offset"]))
            for p in record["predictions"]
        ]
        videos = {v: x[0] for v, x in record["videos"].items()}
        report = spotting_report(truth, predictions, limits, videos=videos)
        identity = record["identity"]
        overall = report.overall
        return SpottingRow(
            record["run_id"],
            identity["spotter"],
            identity["source"],
            int(identity["seed"]),
            overall["micro"].f1,
            overall["macro"].f1,
            report.f1,
            float(record["chance_f1"]),
            overall["overall"].tp,
            overall["overall"].n_pred,
            overall["overall"].n_gt,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: not a spotting run record ({type(exc).__name__}: {exc})") from exc


def spotting_ranking(
    store_dir: Path, protocol: str, limits: dict[str, LengthLimits]
) -> list[SpottingRow]:
    """Every stored run of `protocol` under `store_dir`, best F1 first."""
    rows = []
    for path in sorted(Path(store_dir).glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"{path}: cannot read spotting run ({exc})") from exc
        if record.get("identity", {}).get("protocol") != protocol or "truth" not in record:
            continue
        rows.append(_row(path, record, limits))
    return sorted(rows, key=lambda r: (-r.f1, r.run_id))
