"""Source `flows`: a folder of STSTNet-style 28x28x3 flow PNGs, one per sample.

Accepted names (searched recursively under --data-root):
- HTNet's: `<subject>_<sample> .png` (note the space before the extension), e.g. `s01_s1_ne_01 .png`
  or `sub01_EP02_01f .png`; the same without the space;
- STSTNet's: `<sample>.png`, inside a folder named after the subject or, where the sample id is
  unique in the protocol, anywhere.
Subject and sample spellings of the owners, of the MEGC2019 list and of HTNet's list are all
accepted, as each dataset plugin declares them (see `mer_bench.data.naming`). Channels are taken as OpenCV reads them: the PNGs hold u, v and
strain as R, G, B, so `cv2.imread` gives (strain, v, u), which is the `flow28` layout
(`mer_bench.data.contract.FLOW28_CHANNELS`); values 0-255. HTNet's region points come from one
aligned face image per sample when a face folder is given (`--faces`, or found in a clone of
HTNet's repository), else every sample gets HTNet's fixed fallback points; the run records
which samples fell back. See docs/real-data.md.

A folder written by `mer-bench prepare --export-flows` also holds its sample CSV
(`mer_bench.data.export_flows`): then the source describes its samples as the exported source did
(the same kind of sample ids, and the annotation values the protocol's rules read), so a
protocol resolves to the same samples and labels as it did there.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from mer_bench.core.errors import DataError
from mer_bench.data.contract import FALLBACK_POINTS, Source, ViewArrays
from mer_bench.data.naming import (
    canonical_dataset,
    canonical_ids,
    canonical_sample,
    sample_spellings,
    subject_spellings,
)
from mer_bench.data.sources.options import SourceOptions

log = logging.getLogger(__name__)

#: Where HTNet's public repository keeps the composite's flows and face images, below its root.
CLONE_FLOWS = Path("datasets/STSNet_whole_norm_u_v_os")
CLONE_FACES = Path("datasets/combined_datasets_whole")
#: Image files a face folder may hold.
FACE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
#: How the region points are found on the face images (`--face-points`), with the name the
#: run's identity records: mer-bench's dlib detector on the full image (default), or MTCNN on
#: the face resized to 28x28, exactly as HTNet's reference code calls it (facenet-pytorch, which
#: pins an old torch: `pip install --no-deps facenet-pytorch`; its weights ship in the package).
FACE_POINT_METHODS = {"dlib": "faces:dlib-hog-68:v1", "mtcnn": "faces:mtcnn-28-bgr:v1"}
POINTS_FALLBACK = "fallback"


@dataclass(frozen=True)
class FlowsOptions(SourceOptions):
    """Where the flow PNGs (and, optionally, one aligned face image per sample) are.

    Neither path is part of the run's identity: the files' contents are (`FlowsSource.
    data_identity`), so the same folder copied elsewhere is the same data.
    """

    data_root: Path | None = None
    faces: Path | None = None
    face_points: str = "dlib"

    option_help = {
        **SourceOptions.option_help,
        "data_root": "folder of the flow PNGs (also --data-root)",
        "faces": "folder of one aligned face per sample, for region points (also --faces)",
        "face_points": "how region points are found: dlib | mtcnn (also --face-points)",
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.face_points not in FACE_POINT_METHODS:
            raise ValueError(
                f"--face-points must be one of {', '.join(FACE_POINT_METHODS)}, got "
                f"{self.face_points!r}"
            )


class FlowsSource(Source):
    """Reads precomputed flow images; knows no annotations, so protocols use their explicit lists.

    `--data-root` is a folder of flow PNGs, or the root of a clone of HTNet's public repository
    (its `datasets/STSNet_whole_norm_u_v_os` flows and `datasets/combined_datasets_whole` faces
    are then found by themselves). With face images, each sample's five region points are found
    on its face (mer-bench's dlib detector and 68-point landmarks, mapped to 28x28 pixels) and
    HTNet's fixed fallback points are used only where no face is found; without them every
    sample gets the fallback points. The run records which samples fell back.
    """

    name = "flows"
    description = "a folder of 28x28x3 flow PNGs (HTNet / STSTNet layout), optionally with faces"
    sample_ids = "real"
    has_tables = False
    Options = FlowsOptions

    @classmethod
    def can_give(cls, view: Any) -> bool:
        """The views that say they can be made from published flow images
        (`ViewConfig.from_flow_images`)."""
        empty = np.zeros((0, 3, 28, 28), np.float32)
        return (
            view.from_flow_images(empty, np.zeros((0, 5, 2), np.float32), np.zeros(0, bool))
            is not None
        )

    def __init__(self, options: FlowsOptions) -> None:
        if options.data_root is None:
            raise DataError(
                "source 'flows' needs --data-root: a folder of 28x28x3 flow PNGs "
                "(or try the built-in demo: --source demo)"
            )
        root = Path(options.data_root)
        if not root.is_dir():
            raise DataError(f"{root}: no such folder of flow PNGs (try --source demo)")
        faces = options.faces
        if (root / CLONE_FLOWS).is_dir():  # the root of a clone of HTNet's repository
            if faces is None and (root / CLONE_FACES).is_dir():
                faces = root / CLONE_FACES
            root = root / CLONE_FLOWS
        if faces is not None and not Path(faces).is_dir():
            raise DataError(f"{faces}: no such folder of face images (--faces)")
        self.root = root
        self.faces = None if faces is None else Path(faces)
        self.cache_dir = Path(options.cache_dir)
        self.method = options.face_points
        self._identity: dict[str, Any] | None = None
        self._points: dict[str, Any] = {}
        from mer_bench.data.export_flows import read_export

        self.export = read_export(self.root)  # None: a folder made elsewhere
        if self.export is not None:
            self.sample_ids, self.has_tables = self.export.sample_ids, self.export.has_tables

    def dataset_table(self, dataset: str) -> pd.DataFrame:
        if self.export is not None and self.export.has_tables:
            return self.export.dataset_table(dataset)
        raise DataError(
            "source 'flows' holds only flow images, no annotation tables; "
            "use a protocol with an explicit sample list (megc2019)"
        )

    def arrays(self, samples: pd.DataFrame, view: Any = None) -> ViewArrays:
        from mer_bench.data.preprocess.views import default_view

        view = view if view is not None else default_view()
        if not self.can_give(view):
            raise DataError(
                f"source 'flows' holds 28x28 flow images only, from which view "
                f"{view.name} cannot be made: use --source raw or --source demo"
            )
        paths = match_sample_files(self.root, samples, (".png",), "flow PNG")
        flows = np.stack([read_flow_png(p) for p in paths])
        identity: dict[str, Any] = {"flows_sha256": files_digest(paths)}
        if self.faces is None:
            points = np.repeat(FALLBACK_POINTS[None], len(paths), axis=0)
            fallback = np.ones(len(paths), dtype=bool)
            identity["points"] = POINTS_FALLBACK
            self._points = {"points": "fallback (no face images)"}
        else:
            face_paths = match_sample_files(self.faces, samples, FACE_SUFFIXES, "face image")
            faces_digest = files_digest(face_paths)
            points, fallback = cached_face_points(
                face_paths, faces_digest, self.cache_dir, self.method
            )
            identity.update(points=FACE_POINT_METHODS[self.method], faces_sha256=faces_digest)
            keys = [
                "/".join(canonical_ids(d, su, sa))
                for d, su, sa in samples[["dataset", "subject", "sample"]].itertuples(
                    index=False, name=None
                )
            ]
            self._points = {
                "points": f"faces ({FACE_POINT_METHODS[self.method]})",
                "points_found": int((~fallback).sum()),
                "points_fallback_samples": [k for k, f in zip(keys, fallback) if f],
            }
        self._identity = identity
        arrays = view.from_flow_images(flows, points.astype(np.float32), fallback)
        return ViewArrays.in_memory(view, arrays.pop("data"), arrays)

    def data_identity(self) -> dict[str, Any] | None:
        """What the data is, by content: the flow files' digest (in sample order) and how the
        region points were found (with the face files' digest)."""
        return self._identity

    def provenance(self) -> dict:
        out = {"source": self.name, "data_root": str(self.root.resolve()), **self._points}
        if self.faces is not None:
            out["faces"] = str(self.faces.resolve())
        return out


def files_digest(paths: list[Path]) -> str:
    """sha256 over the files' bytes, in the order given (a short hex prefix)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cached_face_points(
    paths: list[Path], digest: str, cache_dir: Path, method: str = "dlib"
) -> tuple[np.ndarray, np.ndarray]:
    """`face_points`, kept in the cache under the face files' digest (a second run, a resume or
    a reproduction does not detect the faces again); an unreadable cache entry is recomputed."""
    name = FACE_POINT_METHODS[method].replace(":", "-")
    path = cache_dir / "flows-points" / f"{name}-{digest}.npz"
    damaged = ""
    try:
        with np.load(path, allow_pickle=False) as cached:
            points, fallback = cached["points"], cached["fallback"]
        if points.shape == (len(paths), 5, 2) and fallback.shape == (len(paths),):
            return points.astype(np.float32), fallback.astype(bool)
        damaged = f"points {points.shape}, fallback {fallback.shape} for {len(paths)} faces"
    except (FileNotFoundError, NotADirectoryError):
        pass  # not cached yet (or no usable cache folder: then it is not cached at all)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        damaged = f"{type(exc).__name__}: {exc}"
    if damaged:
        log.warning(
            "cached face points %s are damaged (%s): finding them again",
            path,
            " ".join(damaged.split()),
        )
    points, fallback = face_points(paths, method)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npz")
        np.savez(partial, points=points, fallback=fallback)
        os.replace(partial, path)  # readers never see a half-written file
    except OSError as exc:
        log.warning("could not cache the face points in %s (%s)", path.parent, exc)
    return points, fallback


def face_points(paths: list[Path], method: str = "dlib") -> tuple[np.ndarray, np.ndarray]:
    """Per face image: the five region points in 28x28 coordinates (N, 5, 2) and whether the
    fallback points stand in for them (N,), HTNet's rule when no face is found."""
    find = _mtcnn_points() if method == "mtcnn" else _dlib_points
    points = np.repeat(FALLBACK_POINTS[None], len(paths), axis=0).astype(np.float32)
    fallback = np.ones(len(paths), dtype=bool)
    for i, path in enumerate(paths):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise DataError(f"{path}: unreadable face image")
        found = find(image)
        if found is not None:
            points[i], fallback[i] = found, False
    return points, fallback


def _dlib_points(image: np.ndarray) -> np.ndarray | None:
    from mer_bench.data.preprocess.points import five_points_in_image

    return five_points_in_image(image, 28)


def _mtcnn_points() -> Any:
    """HTNet's reference call: MTCNN (margin 0, image size 28, the largest face, no
    post-processing) on the BGR face resized to 28x28 with INTER_AREA; its five landmarks."""
    try:
        from facenet_pytorch import MTCNN
    except ImportError as exc:
        raise DataError(
            "--face-points mtcnn needs facenet-pytorch (pip install --no-deps "
            f"facenet-pytorch; its own pins ask for an old torch): {exc}"
        ) from None
    mtcnn = MTCNN(margin=0, image_size=28, select_largest=True, post_process=False, device="cpu")

    def find(image: np.ndarray) -> np.ndarray | None:
        small = cv2.resize(image, (28, 28), interpolation=cv2.INTER_AREA)
        _, _, landmarks = mtcnn.detect(small, landmarks=True)
        return None if landmarks is None else np.asarray(landmarks[0], dtype=np.float32)

    return find


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


def match_sample_files(
    root: Path, samples: pd.DataFrame, suffixes: tuple[str, ...], what: str
) -> list[Path]:
    """One file (of `suffixes`) per sample row, in row order, named as HTNet's or STSTNet's copy
    names them. Missing, ambiguous and unmatched files are reported by name."""
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in suffixes and p.is_file())
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
        subj_spellings = subject_spellings(d, subject)
        smp_spellings = sample_spellings(d, sample)
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
            raise DataError(
                f"{root}: several files match {dataset}/{subject}/{sample}: "
                f"{', '.join(sorted(p.name for p in hits))}"
            )
    if missing:
        more = f" (and {len(missing) - 10} more)" if len(missing) > 10 else ""
        raise DataError(
            f"{root}: {len(missing)} of {len(samples)} samples have no {what}: "
            f"{', '.join(missing[:10])}{more}"
        )
    extra = sorted(set(files) - set(found))
    if extra:
        names = ", ".join(str(p.relative_to(root)) for p in extra[:10])
        raise DataError(
            f"{root}: {len(extra)} {what} files match no sample of the protocol: {names}"
        )
    if len(set(found)) != len(found):
        duplicated = next(p for p in found if found.count(p) > 1)
        raise DataError(f"{duplicated}: one {what} matches several samples")
    return found
