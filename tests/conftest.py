"""Shared fixtures: a tiny registered model, a generated flow-PNG folder, a temporary store."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from _postgres import postgres_database, postgres_server, postgres_url, store_location  # noqa: F401

from mer_bench.core import registry
from mer_bench.core.cards import ModelCard, ModelSpec, Recipe
from mer_bench.data.synth.faces import load_photo
from mer_bench_protocols.megc2019 import CLASSES

TINY = "test-tiny-cnn"


class TinyCNN(nn.Module):
    """A few thousand parameters: enough to learn the fixture's class patterns in seconds."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x / 255.0)


def tiny_spec() -> ModelSpec:
    card = ModelCard(
        name=TINY,
        description="Test-only tiny CNN.",
        reference="mer-bench tests",
        year=2026,
        view="flow28",
        num_params=sum(p.numel() for p in TinyCNN(3).parameters()),
        recipe=Recipe(optimizer="adam", lr=1e-2, batch_size=64, epochs=3),
    )
    return ModelSpec(card=card, build=TinyCNN)


@pytest.fixture()
def tiny_model() -> str:
    registry.register(tiny_spec())
    return TINY


def class_pattern(label: int, rng: np.random.Generator) -> np.ndarray:
    """A 28x28x3 uint8 flow image whose bright region depends on the class, plus noise."""
    img = rng.normal(128, 20, size=(28, 28, 3))
    rows = {0: slice(4, 12), 1: slice(18, 26), 2: slice(10, 18)}[label]
    img[rows, :, label] += 90
    return np.clip(img, 0, 255).astype(np.uint8)


def write_flow_folder(
    root: Path, samples: pd.DataFrame, seed: int = 0, naming: str = "htnet"
) -> Path:
    """One PNG per sample, named as HTNet's copy names them (`<subject>_<sample> .png`)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for row in samples.itertuples(index=False):
        if naming == "htnet":
            path = root / f"{row.subject}_{row.sample} .png"
        else:  # STSTNet-like: a folder per subject, the sample id as the file name
            path = root / row.dataset / str(row.subject) / f"{row.sample}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), class_pattern(int(row.label), rng))
    return root


def megc2019_list() -> pd.DataFrame:
    """The MEGC2019 composite's shipped 442-sample list (dataset, subject, sample, label, class)."""
    return registry.get_protocol("megc2019").protocol.listed_samples(CLASSES)


@pytest.fixture(scope="session")
def megc_manifest() -> pd.DataFrame:
    return megc2019_list()


@pytest.fixture(scope="session")
def flows_dir(tmp_path_factory, megc_manifest) -> Path:
    return write_flow_folder(tmp_path_factory.mktemp("flows"), megc_manifest)


@pytest.fixture()
def store_path(tmp_path) -> Path:
    return tmp_path / "results.sqlite"


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Small models on a shared 2-core machine run fastest with one intra-op thread."""
    torch.set_num_threads(1)
    yield


@pytest.fixture(autouse=True)
def _no_shipped_reference(monkeypatch):
    """Tests see only the runs they make: the shipped reference runs (results/) are hidden, as
    MER_BENCH_REFERENCE=0 hides them for a user (also in the subprocesses a test starts).
    tests/test_reference.py turns them back on where it tests them."""
    monkeypatch.setenv("MER_BENCH_REFERENCE", "0")


@pytest.fixture()
def one_thread():
    """One torch intra-op thread for the test (what each local or Ray worker uses), restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture()
def no_dataset_env(monkeypatch, tmp_path):
    """No dataset location from the environment or a config file (tests must not see the host's)."""
    for var in (
        "MER_BENCH_DATA_ROOT",
        "MER_BENCH_CASME2",
        "MER_BENCH_SAMM",
        "MER_BENCH_SMIC",
        "MER_BENCH_CASME3",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MER_BENCH_CONFIG", str(tmp_path / "absent.toml"))


#: How many of the 442 samples get a real face in the fixture (the rest a blank image).
WITH_FACE = 5


def face_image() -> np.ndarray:
    """A 224x224 BGR crop around the astronaut's face (a public-domain photo shipped with
    scikit-image), the size of HTNet's aligned faces."""
    photo = load_photo("astronaut")
    centre = photo.landmarks.mean(axis=0).astype(int)
    half = int(np.ptp(photo.landmarks[:, 0]) * 0.9)
    x0, y0 = max(centre[0] - half, 0), max(centre[1] - half, 0)
    crop = photo.image[y0 : y0 + 2 * half, x0 : x0 + 2 * half]
    return cv2.resize(cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), (224, 224))


@pytest.fixture(scope="session")
def htnet_clone(tmp_path_factory, megc_manifest, flows_dir) -> Path:
    """A folder in the layout of a clone of HTNet's repository: the flows under
    datasets/STSNet_whole_norm_u_v_os, faces as <subject>_<sample>.jpg under
    datasets/combined_datasets_whole (a face for the first WITH_FACE samples, blank otherwise)."""
    root = tmp_path_factory.mktemp("htnet-clone")
    shutil.copytree(flows_dir, root / "datasets" / "STSNet_whole_norm_u_v_os")
    faces = root / "datasets" / "combined_datasets_whole"
    faces.mkdir()
    face, blank = face_image(), np.full((32, 32, 3), 128, np.uint8)  # small: fast to search
    for i, row in enumerate(megc_manifest.itertuples(index=False)):
        cv2.imwrite(
            str(faces / f"{row.subject}_{row.sample}.jpg"), face if i < WITH_FACE else blank
        )
    return root
