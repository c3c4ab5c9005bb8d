"""Source `flows`: a folder of STSTNet-style 28x28x3 flow PNGs, one per sample.

Accepted names (searched recursively under --data-root):
- HTNet's: `<subject>_<sample> .png` (note the space before the extension), e.g. `s01_s1_ne_01 .png`
  or `sub01_EP02_01f .png`; the same without the space;
- STSTNet's: `<sample>.png`, inside a folder named after the subject or, where the sample id is
  unique in the protocol, anywhere.
Subject and sample spellings of the owners, of the MEGC2019 list and of HTNet's list are all
accepted (see `mer_bench.data.naming`). Channels are taken as OpenCV reads them: the PNGs hold u, v and
strain as R, G, B, so `cv2.imread` gives (strain, v, u), which is the `flow28` layout
(`mer_bench.data.contract.FLOW28_CHANNELS`); values 0-255. Without landmarks, every sample gets
HTNet's fixed fallback points and the run records that.

A folder written by `mer-bench prepare --export-flows` also holds its sample CSV
(`mer_bench.data.export_flows`): then the source describes its samples as the exported source did
(the same kind of sample ids, and the annotation values the protocol's rules read), so a
protocol resolves to the same samples and labels as it did there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from mer_bench.data.contract import FALLBACK_POINTS, InputArrays, Source
from mer_bench.core.errors import DataError
from mer_bench.data.naming import canonical_dataset, canonical_sample, canonical_subject
from mer_bench.data.sources.options import SourceOptions, identity_field


@dataclass(frozen=True)
class FlowsOptions(SourceOptions):
    """The folder of flow PNGs (part of the run's identity: another folder is other data)."""

    data_root: Path | None = identity_field(None)


class FlowsSource(Source):
    """Reads precomputed flow images; knows no annotations, so protocols use their explicit lists."""

    name = "flows"
    description = "a folder of 28x28x3 flow PNGs (HTNet / STSTNet layout)"
    sample_ids = "real"
    has_tables = False
    views = ("flow28",)
    Options = FlowsOptions

    def __init__(self, options: FlowsOptions) -> None:
        if options.data_root is None:
            raise DataError("source 'flows' needs --data-root: a folder of 28x28x3 flow PNGs "
                            "(or try the built-in demo: --source demo)")
        self.root = Path(options.data_root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: no such folder of flow PNGs (try --source demo)")
        from mer_bench.data.export_flows import read_export

        self.export = read_export(self.root)  # None: a folder made elsewhere
        if self.export is not None:
            self.sample_ids, self.has_tables = self.export.sample_ids, self.export.has_tables

    def dataset_table(self, dataset: str) -> pd.DataFrame:
        if self.export is not None and self.export.has_tables:
            return self.export.dataset_table(dataset)
        raise DataError("source 'flows' holds only flow images, no annotation tables; "
                        "use a protocol with an explicit sample list (megc2019)")

    def arrays(self, samples: pd.DataFrame, view: Any = None) -> InputArrays:
        if view is not None and view.name != "flow28":
            raise DataError(f"source 'flows' holds 28x28 flow images only (view flow28), not "
                            f"{view.name}: use --source raw or --source demo")
        paths = match_flow_files(self.root, samples)
        flows = np.stack([read_flow_png(p) for p in paths])
        points = np.repeat(FALLBACK_POINTS[None], len(paths), axis=0)
        return InputArrays(flows, points, np.ones(len(paths), dtype=bool))

    def provenance(self) -> dict:
        return {"source": self.name, "data_root": str(self.root), "points": "fallback (no landmarks)"}


def read_flow_png(path: Path) -> np.ndarray:
    """(3, 28, 28) float32 in 0-255 from one flow PNG; DataError naming the file otherwise."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DataError(f"{path}: unreadable image")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        raise DataError(f"{path}: a grayscale image, not a 3-channel flow image (strain, v, u)")
    if image.ndim == 3 and image.shape[2] == 4:
        raise DataError(f"{path}: has an alpha channel; a flow image has 3 channels")
    if image.dtype != np.uint8:
        raise DataError(f"{path}: {image.dtype} pixels; flow images are 8-bit")
    if image.shape != (28, 28, 3):
        raise DataError(f"{path}: expected a 28x28x3 flow image, got {image.shape}")
    return image.transpose(2, 0, 1).astype(np.float32)


def _file_keys(path: Path) -> list[str]:
    """Lookup keys a file name can match: 'subject_sample' forms and bare sample ids."""
    stem = path.name[: -len(path.suffix)].rstrip()
    return [stem, f"{path.parent.name}/{stem}"]


def match_flow_files(root: Path, samples: pd.DataFrame) -> list[Path]:
    """One PNG per sample row, in row order. Missing and unmatched files are reported by name."""
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() == ".png")
    by_key: dict[str, list[Path]] = {}
    for f in files:
        for key in _file_keys(f):
            by_key.setdefault(key.lower(), []).append(f)
    canon_samples = [canonical_sample(d, s) for d, s in zip(samples["dataset"], samples["sample"])]
    unique_samples = pd.Series(canon_samples).value_counts()
    found: list[Path] = []
    missing: list[str] = []
    for (dataset, subject, sample), canon in zip(
        samples[["dataset", "subject", "sample"]].itertuples(index=False, name=None), canon_samples
    ):
        d = canonical_dataset(dataset)
        subj_spellings = _subject_spellings(d, subject)
        smp_spellings = _sample_spellings(d, sample)
        candidates = [f"{su}_{sm}" for su in subj_spellings for sm in smp_spellings]
        candidates += [f"{su}/{sm}" for su in subj_spellings for sm in smp_spellings]
        if unique_samples[canon] == 1:
            candidates += list(smp_spellings)
        hits = {p for c in candidates for p in by_key.get(c.lower(), [])}
        if len(hits) == 1:
            found.append(hits.pop())
        elif not hits:
            missing.append(f"{dataset}/{subject}/{sample}")
        else:
            raise DataError(f"{root}: several files match {dataset}/{subject}/{sample}: "
                            f"{', '.join(sorted(p.name for p in hits))}")
    if missing:
        more = f" (and {len(missing) - 10} more)" if len(missing) > 10 else ""
        raise DataError(f"{root}: {len(missing)} of {len(samples)} samples have no flow PNG: "
                        f"{', '.join(missing[:10])}{more}")
    extra = sorted(set(files) - set(found))
    if extra:
        names = ", ".join(str(p.relative_to(root)) for p in extra[:10])
        raise DataError(f"{root}: {len(extra)} PNG files match no sample of the protocol: {names}")
    if len(set(found)) != len(found):
        raise DataError(f"{root}: one flow PNG matches several samples")
    return found


def _subject_spellings(dataset: str, subject: str) -> set[str]:
    canon = canonical_subject(dataset, subject)
    out = {str(subject), canon}
    if dataset == "smic":  # HTNet writes s01 where the owners write s1
        out.add(f"s{int(canon[1:]):02d}")
    if dataset == "casme2":
        out.add(str(int(canon[3:])))
    return out


def _sample_spellings(dataset: str, sample: str) -> set[str]:
    canon = canonical_sample(dataset, sample)
    out = {str(sample), canon}
    if dataset == "smic":
        head, _, tail = canon.partition("_")
        out.add(f"s{int(head[1:]):02d}_{tail}")
    return out
