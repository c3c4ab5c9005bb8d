"""Prepared flows written in the field's layout: one 28x28 PNG per sample, plus a sample CSV.

`mer-bench prepare ... --export-flows DIR` writes what the STSTNet and HTNet repositories ship
and their training scripts read: a flat folder of `<subject>_<sample> .png` files (with the space
before the extension, HTNet's subject spelling: `s01`, `sub01`, `006`), each holding the
horizontal flow u, the vertical flow v and the optical strain as R, G and B on the 0-255 scale.
mer-bench's `flow28` arrays are (strain, v, u), the order `cv2.imread` gives for such a file
(`mer_bench.data.contract.FLOW28_CHANNELS`), so they are written with `cv2.imwrite` as they are, rounded
to 8 bits.

Beside them, `mer-bench-flows.csv` lists every file with its dataset, subject, sample, label
and class (and the annotation value the protocol's rules read, e.g. the emotion), and
`mer-bench-flows.json` says what made the folder. The `flows` source reads both back, so
`--source flows --data-root DIR` yields the same samples, labels and (to the 8-bit rounding)
arrays as the source the folder was exported from, also for the demo's generated ids.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from mer_bench.data.contract import FLOW28_CHANNELS, SAMPLE_COLUMNS, InputArrays, Source
from mer_bench.core.errors import DataError, MerBenchError
from mer_bench.data.naming import canonical_ids, canonical_sample, file_subject

log = logging.getLogger(__name__)

MANIFEST = "mer-bench-flows.csv"
INFO = "mer-bench-flows.json"
EXPORT_FORMAT = "mer-bench-flows"
EXPORT_VERSION = 1
#: Columns of the manifest, before the annotation columns the protocol's rules read.
COLUMNS = ("file", *SAMPLE_COLUMNS, "class")
#: What the PNGs hold, for readers of the JSON.
PNG_CHANNELS = {"R": "u", "G": "v", "B": "strain"}


def flow_file_name(dataset: str, subject: str, sample: str) -> str:
    """`<subject>_<sample> .png`, as HTNet names its copy of the flow images (the subject as the
    dataset declares the field's files spell it)."""
    return f"{file_subject(dataset, subject)}_{canonical_sample(dataset, sample)} .png"


def to_png(flow: np.ndarray) -> np.ndarray:
    """A (3, 28, 28) flow28 array as the (28, 28, 3) uint8 image `cv2.imwrite` takes."""
    return np.clip(np.rint(flow), 0, 255).astype(np.uint8).transpose(1, 2, 0)


def annotation_values(source: Source, samples: pd.DataFrame, column: str) -> list[str] | None:
    """Per sample, the value of `column` in the source's dataset tables (None when the source
    has no tables or the column is missing)."""
    if not source.has_tables:
        return None
    index: dict[tuple[str, str, str], str] = {}
    for dataset in samples["dataset"].unique():
        table = source.dataset_table(str(dataset))
        if column not in table.columns:
            return None
        for subject, sample, value in zip(table["subject"], table["sample"], table[column]):
            index.setdefault(canonical_ids(dataset, subject, sample), str(value))
    values = [
        index.get(canonical_ids(d, su, sa))
        for d, su, sa in zip(samples["dataset"], samples["subject"], samples["sample"])
    ]
    return None if any(v is None for v in values) else values


def export_flows(
    folder: Path,
    samples: pd.DataFrame,
    arrays: InputArrays,
    *,
    annotations: dict[str, list[str]] | None = None,
    sample_ids: str = "real",
    about: dict[str, Any] | None = None,
) -> Path:
    """Write `arrays` (aligned with `samples`: SAMPLE_COLUMNS and class) into `folder` in the
    field's layout; returns the manifest's path. `annotations`: column -> per-sample values the
    protocol's rules read (written so the `flows` source can apply those rules again)."""
    folder = Path(folder)
    if len(samples) != len(arrays):
        raise DataError(f"{len(samples)} samples but {len(arrays)} flow arrays")
    if sample_ids not in ("real", "generated"):
        raise ValueError(f"sample_ids must be 'real' or 'generated', got {sample_ids!r}")
    _clear(folder)
    names = [
        flow_file_name(d, su, sa)
        for d, su, sa in zip(samples["dataset"], samples["subject"], samples["sample"])
    ]
    clash = pd.Series(names)[pd.Series(names).duplicated()]
    if len(clash):
        raise DataError(f"--export-flows: two samples share the file name {clash.iloc[0]!r}")
    out_of_range = int(((arrays.flow < -0.5) | (arrays.flow > 255.5)).sum())
    if out_of_range:
        log.warning("%d flow values outside 0-255 were clipped in the export", out_of_range)
    for name, flow in zip(names, arrays.flow):
        if not cv2.imwrite(str(folder / name), to_png(flow)):
            raise MerBenchError(f"{folder / name}: could not write the PNG")
    table = samples[[*SAMPLE_COLUMNS, "class"]].reset_index(drop=True).copy()
    table.insert(0, "file", names)
    for column, values in (annotations or {}).items():
        table[column] = values
    manifest = folder / MANIFEST
    table.to_csv(manifest, index=False)
    info = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "samples": len(table),
        "sample_ids": sample_ids,
        "png_channels": PNG_CHANNELS,
        "array_channels": list(FLOW28_CHANNELS),
        "scale": "0-255, rounded to 8 bits",
        "annotation_columns": sorted(annotations or {}),
        **(about or {}),
    }
    (folder / INFO).write_text(json.dumps(info, indent=2, default=str))
    log.info("exported %d flow PNGs to %s", len(table), folder)
    return manifest


def export_protocol_flows(
    folder: Path, protocol: Any, source: Source, samples: pd.DataFrame, arrays: InputArrays
) -> Path:
    """`export_flows` for a protocol (`ProtocolSpec`) resolved on `source`: the annotation
    column its rules read comes from the source's tables, where it has them."""
    column = protocol.protocol.column
    values = annotation_values(source, samples, column)
    provenance = source.provenance()
    about = {
        "protocol": protocol.card.name,
        "source": source.name,
        "preprocessing_hash": provenance.get("preprocessing_hash"),
    }
    return export_flows(
        folder,
        samples,
        arrays,
        annotations={column: values} if values is not None else None,
        sample_ids=source.sample_ids,
        about=about,
    )


def _clear(folder: Path) -> None:
    """Make `folder` ready: new, empty, or a previous export (whose files are removed)."""
    if folder.exists() and not folder.is_dir():
        raise MerBenchError(f"--export-flows {folder}: a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    entries = list(folder.iterdir())
    if not entries:
        return
    if not (folder / MANIFEST).is_file():
        raise MerBenchError(
            f"--export-flows {folder}: the folder is not empty and holds no "
            f"earlier export ({MANIFEST}); choose an empty or new folder"
        )
    previous = pd.read_csv(folder / MANIFEST, dtype=str, keep_default_na=False)
    listed = set(previous.get("file", pd.Series(dtype=str))) | {MANIFEST, INFO}
    stray = sorted(p.name for p in entries if p.name not in listed)
    if stray:
        raise MerBenchError(
            f"--export-flows {folder}: holds files of no earlier export "
            f"({', '.join(stray[:3])}); choose an empty or new folder"
        )
    for entry in entries:
        entry.unlink()


# --- reading an export back (the `flows` source) -------------------------------------------


@dataclass(frozen=True)
class FlowExport:
    """An exported folder's manifest: what the `flows` source needs to stand in for the source
    it was exported from."""

    table: pd.DataFrame
    sample_ids: str
    annotation_columns: tuple[str, ...]

    @property
    def has_tables(self) -> bool:
        """Whether the protocol's rules can be applied again (the annotation values exist)."""
        return bool(self.annotation_columns)

    def dataset_table(self, dataset: str) -> pd.DataFrame:
        """Rows of one dataset as a loader table (subject, sample and the annotation columns)."""
        rows = self.table[self.table["dataset"] == dataset]
        if rows.empty:
            raise DataError(f"{MANIFEST}: no sample of dataset '{dataset}' was exported")
        out = rows[["dataset", "subject", "sample", *self.annotation_columns]].copy()
        if "emotion" not in out.columns:
            out["emotion"] = ""
        return out.reset_index(drop=True)


def read_export(root: Path) -> FlowExport | None:
    """The export manifest in `root` (None when the folder is not a mer-bench export)."""
    manifest, info_path = Path(root) / MANIFEST, Path(root) / INFO
    if not manifest.is_file():
        return None
    try:
        info = json.loads(info_path.read_text()) if info_path.is_file() else {}
        table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    except (OSError, json.JSONDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"{manifest}: unreadable flow export ({exc})") from None
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"{manifest}: lacks columns {missing}")
    if info.get("format", EXPORT_FORMAT) != EXPORT_FORMAT:
        raise DataError(f"{info_path}: not a mer-bench flow export")
    columns = tuple(c for c in info.get("annotation_columns", []) if c in table.columns)
    sample_ids = info.get("sample_ids", "real")
    if sample_ids not in ("real", "generated"):
        raise DataError(f"{info_path}: sample_ids must be 'real' or 'generated'")
    return FlowExport(table, sample_ids, columns)
