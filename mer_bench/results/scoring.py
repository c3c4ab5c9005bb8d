"""Scoring a predictions file against a protocol's labels (`mer-bench score`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mer_bench.core.cards import ProtocolSpec
from mer_bench.core.errors import DataError
from mer_bench.data.naming import canonical_ids
from mer_bench.results.summary import RunSummary, report_for_predictions
from mer_bench.core.keys import sample_key

REQUIRED_COLUMNS = ("dataset", "subject", "sample", "pred")


def read_predictions(path: Path, classes: tuple[str, ...]) -> pd.DataFrame:
    """The predictions CSV with canonical ids and integer predictions; errors name file and row."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read predictions CSV ({exc})") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing} (need {', '.join(REQUIRED_COLUMNS)})")
    preds = []
    for row_number, value in enumerate(table["pred"], start=2):
        value = value.strip()
        if value in classes:
            preds.append(classes.index(value))
        elif value.isdigit() and int(value) < len(classes):
            preds.append(int(value))
        else:
            raise DataError(
                f"{path}, row {row_number}: prediction {value!r} is not a class "
                f"index 0-{len(classes) - 1} or one of {', '.join(classes)}"
            )
    keys = [
        canonical_ids(d, s, n)
        for d, s, n in zip(table["dataset"], table["subject"], table["sample"])
    ]
    return pd.DataFrame({"key": keys, "pred": preds, "row": range(2, len(table) + 2)})


def score_predictions_file(
    path: Path, protocol: ProtocolSpec, device: str = "auto", manifest: pd.DataFrame | None = None
) -> RunSummary:
    """Every sample of the protocol's list (or of `manifest`, the protocol's samples as a source
    resolved them: dataset, subject, sample, label) must appear exactly once, and nothing else."""
    classes = protocol.card.classes
    manifest = protocol.protocol.listed_samples(classes) if manifest is None else manifest
    if manifest is None:
        raise DataError(
            f"protocol {protocol.card.name} has no explicit sample list: score needs "
            "one, or --source to rebuild the protocol's samples from that source"
        )
    manifest = manifest.assign(
        key=[
            canonical_ids(d, s, n)
            for d, s, n in zip(manifest["dataset"], manifest["subject"], manifest["sample"])
        ]
    )
    preds = read_predictions(path, classes)
    dup = preds[preds["key"].duplicated(keep="first")]
    if len(dup):
        first = dup.iloc[0]
        raise DataError(
            f"{path}, row {first['row']}: sample {'/'.join(first['key'])} appears twice"
        )
    known = set(manifest["key"])
    unknown = preds[~preds["key"].isin(known)]
    if len(unknown):
        first = unknown.iloc[0]
        raise DataError(
            f"{path}, row {first['row']}: sample {'/'.join(first['key'])} is not in "
            f"protocol {protocol.card.name} ({len(unknown)} such rows)"
        )
    absent = manifest[~manifest["key"].isin(set(preds["key"]))]
    if len(absent):
        names = ", ".join("/".join(k) for k in absent["key"][:5])
        raise DataError(
            f"{path}: {len(absent)} samples of {protocol.card.name} have no "
            f"prediction: {names}{' ...' if len(absent) > 5 else ''}"
        )
    merged = manifest.merge(preds[["key", "pred"]], on="key")
    report = report_for_predictions(merged, len(classes), device)
    return RunSummary(
        run_id=None,
        model=None,
        protocol=protocol.card.name,
        source=str(path),
        selection=None,
        epochs=None,
        seed=None,
        report=report,
        n_samples=len(merged),
        n_subjects=int(sample_key(merged["dataset"], merged["subject"]).nunique()),
        seconds=None,
    )
