"""The synthetic demo generator: owners' layouts read by the real loaders, AU motion where it
should be, and byte-identical output for a seed."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from mer_bench.data.datasets import load_dataset
from mer_bench.data.synth.faces import load_photos
from mer_bench.data.synth.generate import SynthConfig, generate, plan, subject_counts
from mer_bench.data.synth.identity import FRAME_SIZE, make_subject
from mer_bench.data.synth.motion import Difficulty, draw_motion, render_clip, time_course
from mer_bench.data.synth.writers import DATASET_DIRS
from mer_bench_protocols.megc2019 import CLASSES, spec as megc2019

SMALL = dict(subjects=3, seed=5, difficulty="easy", clips_per_subject=4)
QUIET = Difficulty("quiet", 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    out = tmp_path_factory.mktemp("synth")
    return out, generate(out, **SMALL)


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_plan_keeps_composite_proportions_and_owner_names() -> None:
    clips = plan(SynthConfig(subjects=12, seed=0))
    assert subject_counts(12) == {"smic": 3, "casme2": 4, "samm": 5}
    by = Counter((c.record.dataset, c.cls) for c in clips)
    assert (by["smic", "negative"], by["smic", "positive"], by["smic", "surprise"]) == (19, 14, 12)
    assert (by["casme2", "negative"], by["casme2", "positive"], by["casme2", "surprise"]) == (
        24,
        8,
        7,
    )
    assert (by["samm", "negative"], by["samm", "positive"], by["samm", "surprise"]) == (25, 7, 4)
    assert by["casme2", "other"] == 3 and by["samm", "other"] == 3 and by["smic", "other"] == 0
    subjects = {c.record.dataset: set() for c in clips}
    for c in clips:
        subjects[c.record.dataset].add(c.record.subject)
    assert subjects == {
        "smic": {"s1", "s2", "s3"},
        "casme2": {"sub01", "sub02", "sub03", "sub04"},
        "samm": {"006", "007", "008", "009", "010"},
    }
    smic_apex = [c.apex_index == (c.length - 1) // 2 for c in clips if c.record.dataset == "smic"]
    assert all(smic_apex)


def test_trees_load_with_the_real_loaders(tree: tuple[Path, list]) -> None:
    out, records = tree
    for dataset, folder in DATASET_DIRS.items():
        table = load_dataset(dataset, out / folder)
        mine = [r for r in records if r.dataset == dataset]
        assert len(table) == len(mine) >= 3
        assert sorted(table["sample"]) == sorted(r.clip for r in mine)
        for _, row in table.iterrows():
            assert len(row["frames"]) == row["offset"] - row["onset"] + 1
            assert row["onset"] < row["apex"] < row["offset"]
        kept = megc2019.protocol.rule_samples({dataset: table}, CLASSES)
        expected = Counter(r.emotion for r in mine if r.emotion.lower() not in ("others", "other"))
        assert len(kept) == sum(expected.values())
        assert set(kept["class"]) == set(CLASSES)  # every class present in every dataset
    samm = load_dataset("samm", out / "SAMM")
    first = cv2.imread(str(samm["frames"].iloc[0][0]), cv2.IMREAD_UNCHANGED)
    assert first.ndim == 2 and first.shape == (FRAME_SIZE[1], FRAME_SIZE[0])  # grayscale
    smic = load_dataset("smic", out / "SMIC")
    assert all(
        Path(f[0]).suffix == ".bmp" and Path(f[0]).name.startswith("image") for f in smic["frames"]
    )
    sheet = pd.read_excel(out / "SAMM" / "SAMM_Micro_FACS_Codes_v2.xlsx", header=None)
    assert list(sheet.iloc[13, :3]) == ["Subject", "Filename", "Inducement Code"]  # row 14
    casme = pd.read_excel(out / "CASME2" / "CASME2-coding-20140508.xlsx")
    assert list(casme.columns)[3:6] == ["OnsetFrame", "ApexFrame", "OffsetFrame"]
    assert casme.iloc[:, 2].isna().all() and casme.iloc[:, 6].isna().all()  # the blank columns


def test_same_seed_same_bytes_other_seed_differs(tree: tuple[Path, list], tmp_path: Path) -> None:
    out, _ = tree
    again = tmp_path / "again"
    generate(again, **SMALL)
    first, second = _hashes(out), _hashes(again)
    assert len(first) > 100 and first == second
    other = tmp_path / "other"
    generate(other, **{**SMALL, "seed": 6})
    assert _hashes(other) != first


def test_time_course_peaks_at_apex() -> None:
    course = time_course(10, 4)
    assert course[0] == 0.0 and course[4] == pytest.approx(1.0)
    assert np.all(np.diff(course[:5]) > 0) and np.all(np.diff(course[4:]) < 0)


def _region_motion(aus: tuple[int, ...]) -> dict[str, float]:
    """Farneback flow onset -> apex of a noise-free clip of `aus` at 3 px: mean |flow| near brows
    and mouth corners, and the brows' mean vertical flow (negative = up)."""
    subject = make_subject(load_photos()[0], np.random.default_rng(3))
    motion = replace(
        draw_motion(np.random.default_rng(4), "anger", 9, 4, QUIET),
        aus=tuple((au, 3.0) for au in aus),
    )
    frames = render_clip(subject, motion)
    onset, apex = (cv2.cvtColor(frames[i], cv2.COLOR_RGB2GRAY) for i in (0, 4))
    flow = cv2.calcOpticalFlowFarneback(onset, apex, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    magnitude = np.linalg.norm(flow, axis=2)
    lm = subject.landmarks

    def around(points: list[int], values: np.ndarray) -> float:
        ys, xs = np.mgrid[0 : magnitude.shape[0], 0 : magnitude.shape[1]]
        near = np.zeros(magnitude.shape, bool)
        for x, y in lm[points]:
            near |= (xs - x) ** 2 + (ys - y) ** 2 < 8**2
        return float(values[near].mean())

    return {
        "brows": around(list(range(17, 27)), magnitude),
        "mouth": around([48, 54], magnitude),
        "brows_v": around(list(range(17, 27)), flow[..., 1]),
    }


def test_flow_at_apex_is_where_the_action_units_are() -> None:
    # The brief's prototypes: lip-corner pull + cheek raise; brow lowerer + lid tightener +
    # lip-corner depressor; brow raise + upper-lid raise.
    positive, negative, surprise = (_region_motion(a) for a in ((12, 6), (4, 7, 15), (1, 2, 5)))
    assert positive["mouth"] > 1.0 and positive["mouth"] > 3 * positive["brows"]
    assert negative["brows"] > 1.0 and negative["mouth"] > 1.0  # both, as the AUs say
    assert surprise["brows"] > 1.0 and surprise["brows"] > 3 * surprise["mouth"]
    assert negative["brows_v"] > 0.5 and surprise["brows_v"] < -0.5  # lowered vs raised


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="difficulty"):
        SynthConfig(difficulty="extreme")
    with pytest.raises(ValueError, match="at least 3"):
        SynthConfig(subjects=2)
