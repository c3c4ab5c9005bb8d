"""The two public-domain face photos the demo is built from, with their 68 landmarks.

Both photos ship inside packages mer-bench already depends on (scikit-image's astronaut, Eileen
Collins; matplotlib's Grace Hopper), so the demo needs no download. Their landmarks come from the
same dlib 68-point model the preprocessing uses, detected once per process.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from mer_bench.core.errors import DataError

#: Photo names, in the order subjects cycle through them.
PHOTO_NAMES = ("astronaut", "grace_hopper")


@dataclass(frozen=True)
class FacePhoto:
    """An RGB photo (uint8, H x W x 3) and its 68 dlib landmarks as float32 (68, 2) (x, y)."""

    name: str
    image: np.ndarray
    landmarks: np.ndarray


def shape_predictor_path() -> Path:
    """The 68-point model file inside `face-recognition-models`, found without importing it.

    Importing that package needs `pkg_resources`, which current setuptools no longer has.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "package face-recognition-models is not installed: pip install face-recognition-models"
        )
    path = (
        Path(list(spec.submodule_search_locations)[0])
        / "models"
        / "shape_predictor_68_face_landmarks.dat"
    )
    if not path.is_file():
        raise DataError(f"{path}: 68-point landmark model missing from face-recognition-models")
    return path


def _load_image(name: str) -> np.ndarray:
    if name == "astronaut":
        from skimage import data

        return np.ascontiguousarray(data.astronaut()[..., :3])
    if name == "grace_hopper":
        import matplotlib.image
        from matplotlib import cbook

        with cbook.get_sample_data("grace_hopper.jpg") as handle:
            return np.ascontiguousarray(matplotlib.image.imread(handle, format="jpg")[..., :3])
    raise DataError(f"unknown demo face photo '{name}'; known: {', '.join(PHOTO_NAMES)}")


def detect_landmarks(image: np.ndarray) -> np.ndarray:
    """The 68 dlib landmarks (float32 (68, 2), x, y) of the largest face in an RGB/gray image."""
    import dlib

    detector = dlib.get_frontal_face_detector()
    faces = detector(image, 1)
    if len(faces) == 0:
        raise DataError("no face found by dlib's frontal detector")
    face = max(faces, key=lambda r: r.width() * r.height())
    shape = dlib.shape_predictor(str(shape_predictor_path()))(image, face)
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)


@lru_cache(maxsize=None)
def load_photo(name: str) -> FacePhoto:
    """One photo with its landmarks (detected once per process, then cached)."""
    image = _load_image(name)
    return FacePhoto(name=name, image=image, landmarks=detect_landmarks(image))


def load_photos() -> tuple[FacePhoto, ...]:
    """All demo photos, in PHOTO_NAMES order."""
    return tuple(load_photo(name) for name in PHOTO_NAMES)
