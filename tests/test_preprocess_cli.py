"""`mer-bench prepare` and the raw source against the real CASME II loader, on tiny trees."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from skimage import data
from typer.testing import CliRunner

from mer_bench.cli import app
from mer_bench.data.sources.raw import RawOptions
from mer_bench.data.sources.raw import RawSource


def face_frames(count: int = 3) -> list[np.ndarray]:
    """The astronaut's head with a small, growing mouth-region motion (uint8, 240x240)."""
    gray = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)[20:260, 100:340]
    yy, xx = np.mgrid[0:240, 0:240].astype(np.float32)
    bump = np.exp(-((xx - 110) ** 2 + (yy - 150) ** 2) / (2 * 12.0**2))
    return [
        cv2.remap(
            gray,
            (xx + k * bump).astype(np.float32),
            yy,
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        for k in np.linspace(0, 1.5, count)
    ]


def write_casme2_tree(root: Path) -> None:
    """CASME II layout: CASME2_RAW_selected/subNN/<clip>/imgN.jpg and the coding sheet."""
    rows = [
        (1, "EP02_01f", 46, 47, 48, "12", "happiness"),
        (2, "EP03_02", 10, 11, 12, "4", "disgust"),
    ]
    for subject, clip, onset, _, offset, _, _ in rows:
        folder = root / "CASME2_RAW_selected" / f"sub{subject:02d}" / clip
        folder.mkdir(parents=True)
        for n, image in zip(range(onset, offset + 1), face_frames(offset - onset + 1)):
            cv2.imwrite(str(folder / f"img{n}.jpg"), image)
    sheet = pd.DataFrame(
        [(s, c, None, on, ap, off, None, au, em) for s, c, on, ap, off, au, em in rows],
        columns=[
            "Subject",
            "Filename",
            "Unnamed",
            "OnsetFrame",
            "ApexFrame",
            "OffsetFrame",
            "Unnamed2",
            "Action Units",
            "Estimated Emotion",
        ],
    )
    sheet.to_excel(root / "CASME2-coding-20140508.xlsx", index=False)


def test_raw_source_with_the_casme2_loader(tmp_path: Path) -> None:
    write_casme2_tree(tmp_path / "CASME2")
    options = RawOptions(cache_dir=tmp_path / "cache", workers=1)
    source = RawSource(options, roots={"casme2": tmp_path / "CASME2"})
    table = source.dataset_table("casme2")
    assert sorted(table["sample"]) == ["EP02_01f", "EP03_02"]
    samples = table[["dataset", "subject", "sample"]].assign(label=0)
    arrays = source.arrays(samples)
    assert arrays.flow.shape == (2, 3, 28, 28)
    assert not arrays.points_fallback.any()
    assert source.provenance()["preprocessing_summary"]["fallbacks"] == {}


def fixture_tables(folder: Path) -> dict[str, pd.DataFrame]:
    """One tiny table per composite dataset, each sample a clip of `face_frames`."""
    tables = {}
    for dataset, subject, emotions in (
        ("smic", "s1", ("negative", "surprise")),
        ("casme2", "sub01", ("happiness", "others")),
        ("samm", "006", ("anger",)),
    ):
        rows = []
        for i, emotion in enumerate(emotions):
            clip = folder / dataset / f"{dataset}_{i}"
            clip.mkdir(parents=True)
            paths = []
            for n, image in enumerate(face_frames()):
                path = clip / f"frame{n + 1}.png"
                cv2.imwrite(str(path), image)
                paths.append(path)
            rows.append(
                {
                    "dataset": dataset,
                    "subject": subject,
                    "sample": f"{dataset}_{i}",
                    "onset": 1,
                    "apex": 2,
                    "offset": 3,
                    "emotion": emotion,
                    "action_units": "",
                    "frames": paths,
                }
            )
        tables[dataset] = pd.DataFrame(rows)
    return tables


def test_prepare_command_reports_and_caches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables = fixture_tables(tmp_path / "frames")
    made: list[RawSource] = []

    class GeneratedIds(RawSource):
        sample_ids = "generated"  # the fixture's ids are not the composite list's: use the rules

    def make_source(name: str, options: RawOptions) -> RawSource:
        assert name == "raw"
        source = GeneratedIds(
            options,
            roots={d: tmp_path for d in tables},
            loader=lambda dataset, root: tables[dataset],
        )
        made.append(source)
        return source

    monkeypatch.setattr("mer_bench.cli.prepare_cmd.make_source", make_source)
    runner = CliRunner()
    args = [
        "prepare",
        "--protocol",
        "megc2019",
        "--workers",
        "1",
        "--quiet",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    # The composite keeps 4 of the 5 rows ("others" is dropped) and computes all of them.
    assert "4 samples (4 computed, 0 from cache)" in first.output
    second = runner.invoke(app, args)
    assert "4 samples (0 computed, 4 from cache)" in second.output
    third = runner.invoke(app, args + ["--flow", "farneback"])
    assert "4 samples (4 computed, 0 from cache)" in third.output
    assert made[-1].config.flow.method == "farneback"
    bad = runner.invoke(app, args + ["--flow", "lucas-kanade"])
    assert bad.exit_code != 0
