"""Importing a submission file (`mer-bench import`): strict validation, then one transaction.

A submission is the JSON written by `mer-bench export RUN_ID`, in the format of
`mer_bench.results.submission_format.SubmissionFile` (the one model export writes and import
reads; version 1 files of mer-bench 0.1.0 are read too). Scores are never read from a file:
anything like them is ignored, and every number is recomputed from the predictions against the
protocol's own labels. The file is checked in full before anything is written; the run, its
folds and its predictions are then stored by `Store.import_run` in a single transaction, so a
rejected file changes nothing. The stored run has status "imported" (shown as imported
everywhere, never pooled with runs computed here).

What mer-bench knows is never taken from the file (OpenML's habit: the server scores):
- samples and labels: exactly the protocol's own (`mer_bench.results.truth`): its shipped list
  on real data, the regenerated demo for a demo run; a file whose samples or labels differ, or
  whose labels mer-bench cannot check, is refused;
- the protocol's split: each fold holds out one subject (LOSO) or one dataset, each once;
- provenance.synthetic: what the registered source is (a demo run cannot claim real data);
- the card of a model registered here: its framework, view and parameter count;
- duplicates: predictions equal to a stored run's on canonical sample keys (`CASME_2`, `s01`
  and `1` are the spellings of one dataset and subject), whatever the run id.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mer_bench.core import registry
from mer_bench.core.cards import FRAMEWORKS, ProtocolSpec
from mer_bench.core.errors import DataError, MerBenchError
from mer_bench.core.identity import RunIdentity
from mer_bench.data.naming import canonical_ids
from mer_bench.results.store import FoldRecord, RunRecord, Store, check_run_id, now
from mer_bench.results.store.migrations import v1_identity
from mer_bench.results.submission_format import (  # noqa: F401
    MAX_ID_LENGTH,
    READABLE_VERSIONS,
    SubmissionFile,
    parse_submission,
    read_submission_text,
)
from mer_bench.results.truth import Truth, protocol_truth

MAX_BYTES = 20 * 1024 * 1024
MAX_PREDICTIONS = 200_000
MAX_FOLDS = 10_000
MAX_CLASSES = 100
#: Card fields of a registered model that a submission must state as the model's card does.
CHECKED_CARD_FIELDS = ("framework", "view", "view_params", "num_params")
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


def read_submission(path: Path) -> Any:
    """The parsed JSON of a submission file, refusing oversized, unparsable and hostile files
    (NaN, numbers beyond a float, lone surrogates, deep nesting) with one line."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataError(f"{path}: cannot read submission ({exc.strerror})") from exc
    if size > MAX_BYTES:
        raise DataError(
            f"{path}: {size} bytes is over the {MAX_BYTES // 2**20} MB limit for a submission file"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read submission ({exc.strerror})") from exc
    return read_submission_text(text, str(path))


def validate_submission(data: Any, where: str = "submission") -> Submission:
    """Check format, schema (the `SubmissionFile` model), protocol, samples, labels, folds,
    card, provenance and sizes against what mer-bench knows; never read scores."""

    def fail(message: str) -> DataError:
        return DataError(f"{where}: {message}")

    # sizes first, before the model builds an object per element
    run_fields = data.get("run") if isinstance(data, dict) else None
    n_folds = run_fields.get("n_folds") if isinstance(run_fields, dict) else None
    if isinstance(n_folds, int) and not isinstance(n_folds, bool) and not 1 <= n_folds <= MAX_FOLDS:
        raise fail(f"run.n_folds must be between 1 and {MAX_FOLDS}")
    for key, limit in (("folds", MAX_FOLDS), ("predictions", MAX_PREDICTIONS)):
        items = data.get(key) if isinstance(data, dict) else None
        if isinstance(items, list) and len(items) > limit:
            raise fail(f"{len(items)} {key} is over the limit of {limit}")
    model = parse_submission(data, where)
    run = _check_run(model, fail)
    try:
        protocol = registry.get_protocol(run["protocol"])
    except MerBenchError as exc:
        raise fail(f"run.protocol: {exc}") from exc
    classes = tuple(protocol.card.classes)
    if tuple(run["classes"]) != classes:
        raise fail(
            f"run.classes: classes {run['classes']} differ from protocol "
            f"{protocol.card.name}'s {list(classes)}"
        )
    card = model.card.model_dump(mode="json")
    if card["name"] != run["model"]:
        raise fail(f"card name {card['name']!r} differs from run model {run['model']!r}")
    _check_card(card, fail)
    folds = _check_folds(model, run, fail)
    predictions = _check_predictions(model, len(classes), fail)
    identity = _check_identity(model, run, fail)
    provenance = _check_provenance(dict(model.provenance), run["source"], fail)
    try:
        truth = protocol_truth(run["protocol"], run["source"], identity.data)
    except MerBenchError as exc:
        raise fail(
            f"run.protocol: cannot check its samples and labels ({exc}); nothing "
            "mer-bench cannot score is imported"
        ) from exc
    _check_against_truth(predictions, truth, protocol, fail)
    _check_split(predictions, folds, protocol, fail)
    provenance["sample_list_checked"] = True
    provenance["labels_checked_against"] = truth.what
    from mer_bench.results.ranking import honest_policies, run_problem

    problem = run_problem(
        run["selection"],
        identity.recipe.get("epochs"),
        card.get("framework", "torch"),
        honest_policies(),
    )
    if problem:
        raise fail(f"cannot be scored: {problem}")
    run = {**run, "identity": identity}
    return Submission(run, card, dict(model.recipe), provenance, folds, predictions, model.ignored)


def import_submission(path: Path, store: Store) -> tuple[str, Submission]:
    """Validate `path` and store it as an 'imported' run in one transaction; return its id."""
    submission = validate_submission(read_submission(path), str(path))
    run = submission.run
    identity: RunIdentity = run["identity"]
    provenance = {
        **submission.provenance,
        "imported_from": Path(path).name,
        "imported_at": now(),
        "status_in_file": run.get("status"),
        "submission_version": run["_version"],
    }
    record = RunRecord(
        run_id=run["run_id"],
        model=run["model"],
        protocol=run["protocol"],
        source=run["source"],
        view=str(identity.view.get("name", "flow28")),
        selection=run["selection"],
        seed=int(run["seed"]),
        identity=identity.as_dict(),
        config_hash=identity.config_hash,
        group_hash=identity.group_hash,
        recipe=dict(identity.recipe),
        classes=tuple(run["classes"]),
        card=submission.card,
        provenance=provenance,
        mer_bench_version=str(run.get("mer_bench_version") or "?"),
        git_commit=run.get("git_commit"),
        torch_version=run.get("torch_version"),
        device_name=run.get("device_name"),
        executor=str(run.get("executor") or "sequential"),
        n_folds=int(run["n_folds"]),
        started_at=str(run.get("started_at") or ""),
        finished_at=run.get("finished_at"),
        status="imported",
        experiment_id=run.get("experiment_id"),
        estimated_seconds=run.get("estimated_seconds"),
        wall_seconds=run.get("wall_seconds"),
    )
    by_fold: dict[int, list[dict[str, Any]]] = {}
    for p in submission.predictions:
        by_fold.setdefault(p["fold"], []).append(p)
    folds = []
    for f in submission.folds:
        rows = by_fold[f["fold_index"]]
        folds.append(
            FoldRecord(
                fold_index=f["fold_index"],
                fold_key=f["fold_key"],
                seed=f["seed"],
                n_train=f["n_train"],
                epochs_trained=f["epochs_trained"],
                selected_epoch=f["selected_epoch"],
                seconds=f["seconds"],
                datasets=[p["dataset"] for p in rows],
                subjects=[p["subject"] for p in rows],
                samples=[p["sample"] for p in rows],
                labels=np.array([p["label"] for p in rows]),
                probs=np.array([p["probs"] for p in rows]),
                selection=f.get("selection"),
                finished_at=f["finished_at"] or now(),
                preds_declared=np.array([p["pred"] for p in rows]),
            )
        )
    try:
        store.import_run(record, folds)
    except MerBenchError as exc:
        raise MerBenchError(f"{path}: {exc}") from exc
    return record.run_id, submission


# -- checks -------------------------------------------------------------------------------------
def _check_identity(model: SubmissionFile, run: dict[str, Any], fail) -> RunIdentity:
    """The run's identity: read from a version-2 file (its hashes must match it), derived from
    the run fields of a version-1 file as the store's migration derives it."""
    if model.version == 1:
        identity = v1_identity(run, dict(model.recipe), dict(model.provenance))
    else:
        raw = run.get("identity")
        if not isinstance(raw, dict):
            raise fail("run.identity must be an object")
        try:
            identity = RunIdentity.from_dict(raw)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise fail(
                f"run.identity is malformed ({type(exc).__name__}: {str(exc)[:120]})"
            ) from None
        for field_name in ("model", "protocol", "source", "selection", "seed"):
            if getattr(identity, field_name) != run[field_name]:
                raise fail(
                    f"run.identity.{field_name} {getattr(identity, field_name)!r} differs "
                    f"from run.{field_name} {run[field_name]!r}"
                )
        for key, value in (
            ("config_hash", identity.config_hash),
            ("group_hash", identity.group_hash),
        ):
            if run.get(key) != value:
                raise fail(f"run.{key} {run.get(key)!r} does not match its identity ({value})")
    run["_version"] = model.version
    return identity


def _check_run(model: SubmissionFile, fail) -> dict[str, Any]:
    run = model.run.model_dump(mode="json")
    try:
        check_run_id(run["run_id"], "run.run_id")
    except DataError as exc:
        raise fail(str(exc)) from exc
    if not registry_name(run["model"]):
        raise fail(f"run.model {run['model']!r} is not a registry name (lowercase, digits, .-_)")
    if run["selection"] not in registry.POLICIES:
        policies = ", ".join(registry.POLICIES.names())
        raise fail(f"run.selection {run['selection']!r} is not one of {policies}")
    if not 2 <= len(run["classes"]) <= MAX_CLASSES:
        raise fail(f"run.classes must be a list of 2 to {MAX_CLASSES} class names")
    if not 1 <= run["n_folds"] <= MAX_FOLDS:
        raise fail(f"run.n_folds must be between 1 and {MAX_FOLDS}")
    if run.get("kind") not in (None, "benchmark"):
        raise fail(
            f"run.kind {run['kind']!r}: only benchmark runs (held-out predictions) can be imported"
        )
    return run


def registry_name(name: str) -> bool:
    """Whether `name` is spelled as registry names are (lowercase letters, digits, . - _)."""
    return _NAME.fullmatch(name) is not None


def _check_card(card: dict[str, Any], fail) -> None:
    """A registered model's card must be its card (framework, view, parameter count): the board
    ranks and footnotes by them; an outside model's card must name a known framework."""
    if card.get("framework") not in FRAMEWORKS:
        raise fail(
            f"card.framework {card.get('framework')!r} is not one of {', '.join(FRAMEWORKS)}"
        )
    if card["name"] not in registry.MODELS:
        return
    try:
        known = json.loads(json.dumps(registry.get_model(card["name"]).card, default=_plain))
    except MerBenchError:  # registered but broken here: nothing to compare with
        return
    for key in CHECKED_CARD_FIELDS:
        if key in known and card.get(key, known[key]) != known[key]:
            raise fail(
                f"card.{key} {card.get(key)!r} differs from model {card['name']}'s card "
                f"here ({known[key]!r})"
            )


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    return str(value)


def _check_provenance(provenance: dict[str, Any], source: str, fail) -> dict[str, Any]:
    """provenance.synthetic is what the registered source is, never what the file claims."""
    if source not in registry.SOURCES:
        raise fail(
            f"run.source: unknown source {source!r} (known: {', '.join(registry.SOURCES.names())})"
        )
    synthetic = registry.SOURCES.get(source).sample_ids == "generated"
    claimed = provenance.get("synthetic", synthetic)
    if claimed is not synthetic:
        raise fail(
            f"provenance.synthetic is {json.dumps(claimed)} but source '{source}' "
            f"{'generates synthetic data' if synthetic else 'reads real data'}"
        )
    return {**provenance, "synthetic": synthetic}


def _check_folds(model: SubmissionFile, run: dict[str, Any], fail) -> list[dict[str, Any]]:
    if len(model.folds) != run["n_folds"]:
        raise fail(
            f"{len(model.folds)} folds but run.n_folds is {run['n_folds']}: only complete "
            "runs can be imported"
        )
    out, seen = [], set()
    for i, fold in enumerate(model.folds):
        if fold.fold_index in seen:
            raise fail(f"folds[{i}]: fold_index {fold.fold_index} appears twice")
        seen.add(fold.fold_index)
        row = fold.model_dump(mode="json")
        out.append(
            {**row, "seconds": float(fold.seconds), "finished_at": str(fold.finished_at or "")}
        )
    return out


def _check_predictions(model: SubmissionFile, num_classes: int, fail) -> list[dict[str, Any]]:
    if not model.predictions:
        raise fail("no predictions")
    out = []
    for i, p in enumerate(model.predictions):
        where = f"predictions[{i}]"
        for key in ("label", "pred"):
            value = getattr(p, key)
            if not 0 <= value < num_classes:
                raise fail(f"{where}.{key} {value!r} is not a class index 0-{num_classes - 1}")
        probs = p.probs
        if len(probs) != num_classes:
            raise fail(f"{where}.probs must be {num_classes} numbers in [0, 1]")
        if abs(sum(probs) - 1.0) > 0.01:
            raise fail(f"{where}.probs sum to {sum(probs):.4f}, not 1")
        if probs[p.pred] < max(probs):
            raise fail(f"{where}.pred {p.pred} is not the most probable class of its probs")
        key = canonical_ids(p.dataset, p.subject, p.sample)
        out.append(
            {
                "dataset": key[0],
                "subject": key[1],
                "sample": key[2],
                "label": p.label,
                "pred": p.pred,
                "probs": [float(v) for v in probs],
                "fold": p.fold,
                "key": key,
            }
        )
    seen: dict[tuple[str, str, str], int] = {}
    for i, p in enumerate(out):
        if p["key"] in seen:
            raise fail(
                f"predictions[{i}]: sample {'/'.join(p['key'])} appears twice (first at "
                f"predictions[{seen[p['key']]}])"
            )
        seen[p["key"]] = i
    return out


def _check_split(
    predictions: list[dict[str, Any]], folds: list[dict[str, Any]], protocol: ProtocolSpec, fail
) -> None:
    """Fold sizes as declared, and the protocol's split: each fold holds out exactly one subject
    (LOSO) or one dataset (hold-out-database), and each of those is held out once."""
    counts: dict[int, int] = {}
    for p in predictions:
        counts[p["fold"]] = counts.get(p["fold"], 0) + 1
    declared = {f["fold_index"]: f["n_test"] for f in folds}
    for fold, n in counts.items():
        if fold not in declared:
            raise fail(f"predictions name fold {fold}, which is not in 'folds'")
        if declared[fold] != n:
            raise fail(
                f"fold {fold} declares {declared[fold]} test samples but has {n} predictions"
            )
    empty = sorted(set(declared) - set(counts))
    if empty:
        raise fail(f"folds {empty[:5]} have no predictions")
    loso = protocol.card.split == "loso"
    unit = "subject" if loso else "dataset"
    held_out: dict[tuple[str, ...], int] = {}
    in_fold: dict[int, tuple[str, ...]] = {}
    for p in predictions:
        group = p["key"][:2] if loso else p["key"][:1]
        if held_out.setdefault(group, p["fold"]) != p["fold"]:
            raise fail(
                f"{unit} {'/'.join(group)} is held out in two folds "
                f"({held_out[group]} and {p['fold']}): not protocol "
                f"{protocol.card.name}'s split ({protocol.card.split})"
            )
        if in_fold.setdefault(p["fold"], group) != group:
            raise fail(
                f"fold {p['fold']} holds out {unit}s {'/'.join(in_fold[p['fold']])} and "
                f"{'/'.join(group)}: not protocol {protocol.card.name}'s split "
                f"({protocol.card.split})"
            )


def _check_against_truth(
    predictions: list[dict[str, Any]], truth: Truth, protocol: ProtocolSpec, fail
) -> None:
    """Every sample of the protocol on this source exactly once, nothing else, each with the
    protocol's own label."""
    classes = protocol.card.classes
    name = protocol.card.name
    for i, p in enumerate(predictions):
        if p["key"] not in truth.labels:
            raise fail(
                f"predictions[{i}]: sample {'/'.join(p['key'])} is not in protocol "
                f"{name} ({truth.what})"
            )
        expected = truth.labels[p["key"]]
        if expected != p["label"]:
            raise fail(
                f"predictions[{i}].label: sample {'/'.join(p['key'])} has label "
                f"{classes[p['label']]} but protocol {name} says {classes[expected]} "
                f"({truth.what})"
            )
    missing = set(truth.labels) - {p["key"] for p in predictions}
    if missing:
        names = ", ".join("/".join(k) for k in sorted(missing)[:5])
        raise fail(
            f"{len(missing)} samples of {name} ({truth.what}) have no prediction: "
            f"{names}{' ...' if len(missing) > 5 else ''}"
        )
