"""Importing a submission file (`mer-bench import`): strict validation, then one transaction.

A submission is the JSON written by `mer-bench export RUN_ID` (format "mer-bench-submission",
version 2, see `mer_bench.results.export`; version 1 files of mer-bench 0.1.0 are read too): run fields,
card, recipe, provenance, folds and per-sample predictions. Scores are never read from a file:
anything like them is ignored and the board recomputes every number from the predictions. The
file is checked in full before anything is written; the run, its folds and its predictions are
then stored by `Store.import_run` in a single transaction, so a rejected file changes nothing.
A run id must be a safe identifier, and predictions equal to a stored run's are refused.

Sample checks: for a protocol with an explicit sample list (megc2019 on real data) every listed
sample must appear exactly once, nothing else, with the protocol's label. For a run on a
synthetic source (no fixed list exists) the file's own samples must be unique, their labels in
range, and folds consistent (each subject held out in exactly one fold).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mer_bench.core import registry
from mer_bench.core.cards import ProtocolSpec
from mer_bench.core.errors import DataError, MerBenchError
from mer_bench.results.export import SUBMISSION_FORMAT, SUBMISSION_VERSION
from mer_bench.core.identity import RunIdentity
from mer_bench.data.naming import canonical_ids
from mer_bench.results.store import FoldRecord, RunRecord, Store, check_run_id, now
from mer_bench.results.store.migrations import v1_identity

#: Submission versions this mer-bench reads.
READABLE_VERSIONS = (1, SUBMISSION_VERSION)

MAX_BYTES = 20 * 1024 * 1024
MAX_PREDICTIONS = 200_000
MAX_FOLDS = 10_000
MAX_CLASSES = 100
MAX_ID_LENGTH = 200
REQUIRED_SECTIONS = {"run": dict, "card": dict, "recipe": dict, "provenance": dict,
                     "folds": list, "predictions": list}
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


@dataclass(frozen=True)
class Submission:
    """A validated submission, ready to insert."""

    run: dict[str, Any]
    card: dict[str, Any]
    recipe: dict[str, Any]
    provenance: dict[str, Any]
    folds: list[dict[str, Any]]
    predictions: list[dict[str, Any]]
    ignored: tuple[str, ...]


def read_submission(path: Path) -> dict[str, Any]:
    """The parsed JSON of a submission file, refusing oversized and unparsable files."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataError(f"{path}: cannot read submission ({exc.strerror})") from exc
    if size > MAX_BYTES:
        raise DataError(f"{path}: {size} bytes is over the {MAX_BYTES // 2**20} MB limit for a "
                        "submission file")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        hint = " (truncated?)" if exc.pos >= len(text.rstrip()) else ""
        raise DataError(f"{path}: not valid JSON{hint}: {exc.msg} at line {exc.lineno} "
                        f"column {exc.colno}") from exc
    if not isinstance(data, dict):
        raise DataError(f"{path}: a submission is a JSON object, got {type(data).__name__}")
    return data


def validate_submission(data: dict[str, Any], where: str = "submission") -> Submission:
    """Check format, schema, protocol, samples, labels, predictions and sizes; never scores."""
    def fail(message: str) -> DataError:
        return DataError(f"{where}: {message}")

    if data.get("format") != SUBMISSION_FORMAT:
        raise fail(f"format is {data.get('format')!r}, expected {SUBMISSION_FORMAT!r}")
    if data.get("version") not in READABLE_VERSIONS:
        raise fail(f"version {data.get('version')!r} is not supported (this mer-bench reads "
                   f"versions {', '.join(map(str, READABLE_VERSIONS))})")
    for key, kind in REQUIRED_SECTIONS.items():
        if not isinstance(data.get(key), kind):
            raise fail(f"section '{key}' is missing or not a JSON {kind.__name__}")
    ignored = tuple(sorted(set(data) - set(REQUIRED_SECTIONS) - {"format", "version"}))
    run = _check_run(data["run"], fail)
    try:
        protocol = registry.get_protocol(run["protocol"])
    except MerBenchError as exc:
        raise fail(str(exc)) from exc
    classes = tuple(protocol.card.classes)
    if tuple(run["classes"]) != classes:
        raise fail(f"classes {run['classes']} differ from protocol {protocol.card.name}'s "
                   f"{list(classes)}")
    card = data["card"]
    if card.get("name") != run["model"]:
        raise fail(f"card name {card.get('name')!r} differs from run model {run['model']!r}")
    if "num_params" in card and not _is_int(card["num_params"]):
        raise fail("card num_params must be an integer")
    folds = _check_folds(data["folds"], run, fail)
    predictions = _check_predictions(data["predictions"], len(classes), fail)
    _check_fold_membership(predictions, folds, protocol, fail)
    listed = None if _source_is_synthetic(run["source"]) else protocol.protocol.listed_samples(
        protocol.card.classes)
    if listed is None:
        _check_self_consistent(predictions, fail)
    else:
        _check_against_list(predictions, listed, protocol, fail)
    provenance = {**data["provenance"], "sample_list_checked": listed is not None}
    identity = _check_identity(data, run, fail)
    from mer_bench.results.ranking import honest_policies, run_problem

    problem = run_problem(run["selection"], identity.recipe.get("epochs"),
                          card.get("framework", "torch"), honest_policies())
    if problem:
        raise fail(f"cannot be scored: {problem}")
    run = {**run, "identity": identity}
    return Submission(run, card, data["recipe"], provenance, folds, predictions, ignored)


def import_submission(path: Path, store: Store) -> tuple[str, Submission]:
    """Validate `path` and store it as an 'imported' run in one transaction; return its id."""
    submission = validate_submission(read_submission(path), str(path))
    run = submission.run
    identity: RunIdentity = run["identity"]
    provenance = {**submission.provenance, "imported_from": Path(path).name,
                  "imported_at": now(), "status_in_file": run.get("status"),
                  "submission_version": run["_version"]}
    record = RunRecord(
        run_id=run["run_id"], model=run["model"], protocol=run["protocol"], source=run["source"],
        view=str(identity.view.get("name", "flow28")), selection=run["selection"],
        seed=int(run["seed"]), identity=identity.as_dict(), config_hash=identity.config_hash,
        group_hash=identity.group_hash, recipe=dict(identity.recipe),
        classes=tuple(run["classes"]), card=submission.card, provenance=provenance,
        mer_bench_version=str(run.get("mer_bench_version") or "?"),
        git_commit=run.get("git_commit"), torch_version=run.get("torch_version"),
        device_name=run.get("device_name"), executor=str(run.get("executor") or "sequential"),
        n_folds=int(run["n_folds"]), started_at=str(run.get("started_at") or ""),
        finished_at=run.get("finished_at"), status="imported",
        experiment_id=run.get("experiment_id"), estimated_seconds=run.get("estimated_seconds"),
        wall_seconds=run.get("wall_seconds"))
    by_fold: dict[int, list[dict[str, Any]]] = {}
    for p in submission.predictions:
        by_fold.setdefault(p["fold"], []).append(p)
    folds = []
    for f in submission.folds:
        rows = by_fold[f["fold_index"]]
        folds.append(FoldRecord(
            fold_index=f["fold_index"], fold_key=f["fold_key"], seed=f["seed"],
            n_train=f["n_train"], epochs_trained=f["epochs_trained"],
            selected_epoch=f["selected_epoch"], seconds=f["seconds"],
            datasets=[p["dataset"] for p in rows], subjects=[p["subject"] for p in rows],
            samples=[p["sample"] for p in rows], labels=np.array([p["label"] for p in rows]),
            probs=np.array([p["probs"] for p in rows]), selection=f.get("selection"),
            finished_at=f["finished_at"] or now(),
            preds_declared=np.array([p["pred"] for p in rows])))
    try:
        store.import_run(record, folds)
    except MerBenchError as exc:
        raise MerBenchError(f"{path}: {exc}") from exc
    return record.run_id, submission


# -- checks -------------------------------------------------------------------------------------
def _check_identity(data: dict[str, Any], run: dict[str, Any], fail) -> RunIdentity:
    """The run's identity: read from a version-2 file (its hashes must match it), derived from
    the run fields of a version-1 file as the store's migration derives it."""
    if data["version"] == 1:
        identity = v1_identity(run, data["recipe"], data["provenance"])
    else:
        raw = run.get("identity")
        if not isinstance(raw, dict):
            raise fail("run.identity must be an object")
        try:
            identity = RunIdentity.from_dict(raw)
        except TypeError as exc:
            raise fail(f"run.identity is malformed ({exc})") from exc
        for field_name in ("model", "protocol", "source", "selection", "seed"):
            if getattr(identity, field_name) != run[field_name]:
                raise fail(f"run.identity.{field_name} {getattr(identity, field_name)!r} differs "
                           f"from run.{field_name} {run[field_name]!r}")
        for key, value in (("config_hash", identity.config_hash),
                           ("group_hash", identity.group_hash)):
            if run.get(key) != value:
                raise fail(f"run.{key} {run.get(key)!r} does not match its identity ({value})")
    run["_version"] = data["version"]
    return identity


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_run(run: dict[str, Any], fail) -> dict[str, Any]:
    for key in ("run_id", "model", "protocol", "source", "selection", "config_hash"):
        value = run.get(key)
        if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
            raise fail(f"run.{key} must be a non-empty string of at most {MAX_ID_LENGTH} characters")
    try:
        check_run_id(run["run_id"], "run.run_id")
    except DataError as exc:
        raise fail(str(exc)) from exc
    for key in ("seed", "n_folds"):
        if not _is_int(run.get(key)) or run[key] < 0:
            raise fail(f"run.{key} must be a non-negative integer")
    if not _NAME.fullmatch(run["model"]):
        raise fail(f"run.model {run['model']!r} is not a registry name (lowercase, digits, .-_)")
    if run["selection"] not in registry.POLICIES:
        policies = ", ".join(registry.POLICIES.names())
        raise fail(f"run.selection {run['selection']!r} is not one of {policies}")
    classes = run.get("classes")
    if (not isinstance(classes, list) or not 2 <= len(classes) <= MAX_CLASSES
            or not all(isinstance(c, str) for c in classes)):
        raise fail(f"run.classes must be a list of 2 to {MAX_CLASSES} class names")
    if not 1 <= run["n_folds"] <= MAX_FOLDS:
        raise fail(f"run.n_folds must be between 1 and {MAX_FOLDS}")
    return run


def _check_folds(folds: list[Any], run: dict[str, Any], fail) -> list[dict[str, Any]]:
    if len(folds) > MAX_FOLDS:
        raise fail(f"{len(folds)} folds is over the limit of {MAX_FOLDS}")
    if len(folds) != run["n_folds"]:
        raise fail(f"{len(folds)} folds but run.n_folds is {run['n_folds']}: only complete runs "
                   "can be imported")
    out, seen = [], set()
    for i, fold in enumerate(folds):
        if not isinstance(fold, dict):
            raise fail(f"folds[{i}] is not an object")
        for key in ("fold_index", "seed", "n_train", "n_test", "epochs_trained"):
            if not _is_int(fold.get(key)) or fold[key] < 0:
                raise fail(f"folds[{i}].{key} must be a non-negative integer")
        if fold["fold_index"] in seen:
            raise fail(f"folds[{i}]: fold_index {fold['fold_index']} appears twice")
        seen.add(fold["fold_index"])
        selected = fold.get("selected_epoch")
        if isinstance(selected, float) and math.isnan(selected):
            selected = None
        if selected is not None and not _is_int(selected):
            raise fail(f"folds[{i}].selected_epoch must be an integer or null")
        seconds = fold.get("seconds")
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) \
                or not math.isfinite(seconds) or seconds < 0:
            raise fail(f"folds[{i}].seconds must be a non-negative number")
        key = fold.get("fold_key")
        if not isinstance(key, str) or len(key) > MAX_ID_LENGTH:
            raise fail(f"folds[{i}].fold_key must be a string")
        out.append({**fold, "selected_epoch": selected, "seconds": float(seconds),
                    "finished_at": str(fold.get("finished_at") or "")})
    return out


def _check_predictions(predictions: list[Any], num_classes: int, fail) -> list[dict[str, Any]]:
    if not predictions:
        raise fail("no predictions")
    if len(predictions) > MAX_PREDICTIONS:
        raise fail(f"{len(predictions)} predictions is over the limit of {MAX_PREDICTIONS}")
    out = []
    for i, p in enumerate(predictions):
        where = f"predictions[{i}]"
        if not isinstance(p, dict):
            raise fail(f"{where} is not an object")
        for key in ("dataset", "subject", "sample"):
            if not isinstance(p.get(key), str) or not p[key] or len(p[key]) > MAX_ID_LENGTH:
                raise fail(f"{where}.{key} must be a non-empty string")
        for key in ("label", "pred"):
            if not _is_int(p.get(key)) or not 0 <= p[key] < num_classes:
                raise fail(f"{where}.{key} {p.get(key)!r} is not a class index 0-{num_classes - 1}")
        if not _is_int(p.get("fold")):
            raise fail(f"{where}.fold must be an integer")
        probs = p.get("probs")
        if (not isinstance(probs, list) or len(probs) != num_classes
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                           and math.isfinite(v) and 0.0 <= v <= 1.0 for v in probs)):
            raise fail(f"{where}.probs must be {num_classes} numbers in [0, 1]")
        if abs(sum(probs) - 1.0) > 0.01:
            raise fail(f"{where}.probs sum to {sum(probs):.4f}, not 1")
        if probs[p["pred"]] < max(probs):
            raise fail(f"{where}.pred {p['pred']} is not the most probable class of its probs")
        out.append({"dataset": p["dataset"], "subject": p["subject"], "sample": p["sample"],
                    "label": p["label"], "pred": p["pred"], "probs": [float(v) for v in probs],
                    "fold": p["fold"], "key": canonical_ids(p["dataset"], p["subject"], p["sample"])})
    seen: dict[tuple[str, str, str], int] = {}
    for i, p in enumerate(out):
        if p["key"] in seen:
            raise fail(f"predictions[{i}]: sample {'/'.join(p['key'])} appears twice (first at "
                       f"predictions[{seen[p['key']]}])")
        seen[p["key"]] = i
    return out


def _check_fold_membership(predictions: list[dict[str, Any]], folds: list[dict[str, Any]],
                           protocol: ProtocolSpec, fail) -> None:
    counts: dict[int, int] = {}
    for p in predictions:
        counts[p["fold"]] = counts.get(p["fold"], 0) + 1
    declared = {f["fold_index"]: f["n_test"] for f in folds}
    for fold, n in counts.items():
        if fold not in declared:
            raise fail(f"predictions name fold {fold}, which is not in 'folds'")
        if declared[fold] != n:
            raise fail(f"fold {fold} declares {declared[fold]} test samples but has {n} predictions")
    empty = sorted(set(declared) - set(counts))
    if empty:
        raise fail(f"folds {empty[:5]} have no predictions")
    if protocol.card.split == "loso":
        held_out: dict[tuple[str, str], int] = {}
        for p in predictions:
            subject = p["key"][:2]
            if held_out.setdefault(subject, p["fold"]) != p["fold"]:
                raise fail(f"subject {'/'.join(subject)} is held out in two folds "
                           f"({held_out[subject]} and {p['fold']}): not leave-one-subject-out")



def _check_against_list(predictions: list[dict[str, Any]], manifest: pd.DataFrame,
                        protocol: ProtocolSpec, fail) -> None:
    expected = {canonical_ids(d, s, n): int(y) for d, s, n, y in
                zip(manifest["dataset"], manifest["subject"], manifest["sample"], manifest["label"])}
    classes = protocol.card.classes
    for i, p in enumerate(predictions):
        if p["key"] not in expected:
            raise fail(f"predictions[{i}]: sample {'/'.join(p['key'])} is not in protocol "
                       f"{protocol.card.name}")
        if expected[p["key"]] != p["label"]:
            raise fail(f"predictions[{i}]: sample {'/'.join(p['key'])} has label "
                       f"{classes[p['label']]} but protocol {protocol.card.name} says "
                       f"{classes[expected[p['key']]]}")
    missing = set(expected) - {p["key"] for p in predictions}
    if missing:
        names = ", ".join("/".join(k) for k in sorted(missing)[:5])
        raise fail(f"{len(missing)} samples of {protocol.card.name} have no prediction: "
                   f"{names}{' ...' if len(missing) > 5 else ''}")


def _check_self_consistent(predictions: list[dict[str, Any]], fail) -> None:
    """Synthetic sources have no fixed list: ids unique (checked), labels in range (checked),
    and at least two subjects so that LOSO makes sense."""
    subjects = {p["key"][:2] for p in predictions}
    if len(subjects) < 2:
        raise fail("a LOSO run needs predictions for at least two subjects")


def _source_is_synthetic(name: str) -> bool:
    """Whether source `name` generates its sample ids (then no fixed sample list applies)."""
    if name not in registry.SOURCES:
        raise DataError(f"submission: unknown source {name!r} (known: "
                        f"{', '.join(registry.SOURCES.names())})")
    return registry.SOURCES.get(name).sample_ids == "generated"
