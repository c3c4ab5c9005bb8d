"""The labels a run is scored against: the protocol's own, never the ones a run carries.

Scores never come from the submitter (OpenML's habit: the server scores). For a protocol with a
shipped sample list on a source with the datasets' own ids, the truth is that list; for a source
that generates its samples (the demo), it is the protocol's rules over the tables the source
plans for the run's data options (`Source.planned_tables`: the demo's labels are a function of
its options, so they are regenerated without rendering a video). Where neither exists (a
rule-defined protocol on real data that is not here), the truth is unknown: an imported run is
then not scored, and a run computed here keeps the labels its own loaders gave it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pandas as pd

from mer_bench.core import registry
from mer_bench.core.errors import DataError, MerBenchError
from mer_bench.data.naming import canonical_ids

Key = tuple[str, str, str]


class TruthUnavailable(MerBenchError):
    """mer-bench cannot say which samples and labels a protocol has on a source."""


class LabelMismatch(MerBenchError):
    """A run's samples are not the protocol's samples."""


class NotScored(DataError):
    """A stored run that cannot be scored against the protocol's own labels (exit code 3)."""


@dataclass(frozen=True)
class Truth:
    """The protocol's samples on one source: canonical key -> label index, and where it comes
    from ("the megc2019 list", "the regenerated demo (12 subjects, seed 0, ...)")."""

    labels: Mapping[Key, int]
    what: str


def protocol_truth(protocol: str, source: str, data: Mapping[str, Any]) -> Truth:
    """The samples and labels of `protocol` on `source` under the identity data options `data`;
    TruthUnavailable says why there are none."""
    return _truth(protocol, source, json.dumps(dict(data), sort_keys=True, default=str))


@lru_cache(maxsize=64)
def _truth(protocol: str, source: str, data_json: str) -> Truth:
    spec = registry.get_protocol(protocol)
    if source not in registry.SOURCES:
        raise TruthUnavailable(f"source '{source}' is not registered here")
    source_class = registry.SOURCES.get(source)
    if spec.card.task != "emotion":  # AU targets come from the loaders' AU strings, not planned
        raise TruthUnavailable(
            f"protocol {protocol} is an {spec.card.task} task: its targets "
            "cannot be regenerated here"
        )
    classes = tuple(spec.card.classes)
    if source_class.sample_ids == "generated":
        tables = source_class.planned_tables(json.loads(data_json))
        if tables is None:
            raise TruthUnavailable(f"source '{source}' cannot regenerate its samples")
        missing = [d for d in spec.card.datasets if d not in tables]
        if missing:
            raise TruthUnavailable(f"source '{source}' has no dataset {', '.join(missing)}")
        samples = spec.protocol.rule_samples({d: tables[d] for d in spec.card.datasets}, classes)
        options = ", ".join(
            f"{k} {v}"
            for k, v in sorted(json.loads(data_json).items())
            if k in ("subjects", "seed", "difficulty", "clips_per_subject")
        )
        what = f"the regenerated {source} ({options or 'defaults'})"
    else:
        samples = spec.protocol.listed_samples(classes)
        if samples is None:
            raise TruthUnavailable(
                f"protocol {protocol} ships no sample list, so its labels on "
                f"source '{source}' (real data) cannot be checked here"
            )
        what = f"the {protocol} sample list"
    labels = {
        canonical_ids(d, s, n): int(y)
        for d, s, n, y in zip(
            samples["dataset"], samples["subject"], samples["sample"], samples["label"]
        )
    }
    return Truth(labels, what)


def relabel(predictions: pd.DataFrame, truth: Truth, complete: bool = True) -> pd.DataFrame:
    """`predictions` (columns dataset, subject, sample, label, pred, ...) with canonical ids and
    the truth's labels; LabelMismatch when its samples are not the truth's (all of them when
    `complete`; a partial run's finished folds hold only some)."""
    keys = [
        canonical_ids(d, s, n)
        for d, s, n in zip(predictions["dataset"], predictions["subject"], predictions["sample"])
    ]
    unknown = [k for k in keys if k not in truth.labels]
    if unknown:
        raise LabelMismatch(
            f"{len(unknown)} samples are not in {truth.what} (first: {'/'.join(unknown[0])})"
        )
    if len(set(keys)) != len(keys):
        raise LabelMismatch("a sample appears twice under different spellings")
    absent = len(truth.labels) - len(keys)
    if absent and complete:
        missing = sorted(set(truth.labels) - set(keys))
        raise LabelMismatch(
            f"{absent} samples of {truth.what} have no prediction (first: {'/'.join(missing[0])})"
        )
    out = predictions.copy()
    out["dataset"] = [k[0] for k in keys]
    out["subject"] = [k[1] for k in keys]
    out["sample"] = [k[2] for k in keys]
    out["label"] = [truth.labels[k] for k in keys]
    if "group" in out:
        out["group"] = out["dataset"] + ":" + out["subject"].astype(str)
    return out


def run_truth(protocol: str, source: str, identity: Mapping[str, Any]) -> Truth:
    """`protocol_truth` for a stored run's identity (its `data` options)."""
    return protocol_truth(protocol, source, identity.get("data") or {})


def protocol_labelled(
    predictions: pd.DataFrame, run: Any, imported: str = "imported", complete: bool = True
) -> tuple[pd.DataFrame, str | None]:
    """A stored run's predictions with the protocol's own labels in place of the stored ones
    (scores never come from what a run carries), and why the run cannot be scored, if it
    cannot: its samples are not the protocol's, or it came in with status `imported` and
    mer-bench cannot check its labels (a run computed here then keeps the labels its own
    loaders gave it). `run`: a `RunRecord`; `complete`: whether every fold is stored."""
    try:
        truth = run_truth(run.protocol, run.source, run.identity)
    except MerBenchError as exc:  # TruthUnavailable, or a protocol no longer registered
        return predictions, (f"not scored: {exc}" if run.status == imported else None)
    try:
        return relabel(predictions, truth, complete), None
    except LabelMismatch as exc:
        return predictions, f"not scored against {truth.what}: {exc}"
