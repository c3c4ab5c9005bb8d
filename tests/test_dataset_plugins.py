"""Datasets carry their behaviour: spellings, flow-file names and doctor checks come from the
dataset plugin, and a dataset registered from outside is found, spelled and checked like a
built-in, with the `dataset:subject` key written by one helper."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from _cli import cli
from typer.testing import CliRunner

from mer_bench.cli import app
from mer_bench.core.keys import sample_key, subject_of
from mer_bench.core.registry import DATASETS
from mer_bench.data import naming
from mer_bench.data.datasets._common import (
    DatasetInfo,
    LoadResult,
    Problem,
    RawRow,
    finish,
)
from mer_bench.data.export_flows import flow_file_name

pytestmark = pytest.mark.usefixtures("no_dataset_env")


def test_sample_key_one_pair_and_aligned_columns():
    assert sample_key("casme2", "sub01") == "casme2:sub01"
    assert sample_key("samm", 6) == "samm:6"
    keys = sample_key(pd.Series(["smic", "samm"]), pd.Series(["s1", 6], dtype=object))
    assert keys.tolist() == ["smic:s1", "samm:6"]
    assert subject_of("casme3:spNO.1") == "spNO.1"


@pytest.mark.parametrize(
    ("dataset", "given", "canonical"),
    [
        ("SMIC-HS", "s01", "s1"),
        ("smic", "S3", "s3"),
        ("casme_2", "1", "sub01"),
        ("CASME2", "sub7", "sub07"),
        ("samm", "6", "006"),
        ("cas(me)^3", "spNO.1", "spNO.1"),
        ("unknown-set", " x1 ", "x1"),
    ],
)
def test_builtin_subject_spellings_come_from_the_plugins(dataset, given, canonical):
    assert naming.canonical_subject(dataset, given) == canonical


def test_builtin_flow_file_spellings():
    assert naming.canonical_sample("smic", "s01_ne_01") == "s1_ne_01"
    assert naming.subject_spellings("casme2", "sub01") == {"sub01", "1"}
    assert naming.sample_spellings("smic", "s1_ne_01") == {"s1_ne_01", "s01_ne_01"}
    assert flow_file_name("smic", "s3", "s3_po_02") == "s03_s3_po_02 .png"
    assert flow_file_name("casme2", "1", "EP02_01f") == "sub01_EP02_01f .png"
    assert flow_file_name("samm", "6", "006_1_2") == "006_006_1_2 .png"


# -- a dataset declared from outside the core ---------------------------------------------------
def _inspect(root: Path) -> LoadResult:
    """`<root>/labels.csv` (person,clip,onset,apex,offset,emotion) and `<root>/P<n>/<clip>/f<k>.png`."""
    table = pd.read_csv(root / "labels.csv", dtype=str)
    rows = [
        RawRow(
            _subject(r.person),
            r.clip,
            r.onset,
            r.apex,
            r.offset,
            r.emotion,
            "",
            root / "labels.csv",
            i + 2,
            root / _subject(r.person) / r.clip,
        )
        for i, r in enumerate(table.itertuples(index=False))
    ]
    return finish("toyset", root, rows, ("joy", "fear"), {"annotation": str(root / "labels.csv")})


def _subject(text: str) -> str:
    return f"P{int(text.lstrip('pP'))}"


def _short_clips(table: pd.DataFrame, root: Path) -> list[Problem]:
    return [
        Problem(
            "toyset",
            str(root / "labels.csv"),
            None,
            r.sample,
            f"only {r.offset - r.onset + 1} frames",
            fatal=False,
        )
        for r in table.itertuples(index=False)
        if r.offset - r.onset < 2
    ]


@pytest.fixture()
def toyset(tmp_path):
    """`toyset` registered in this process, with two clips on disk; unregistered afterwards."""
    info = DatasetInfo(
        name="toyset",
        folder="TOY",
        order=9,
        inspect=_inspect,
        title="Toy set",
        aliases=("toy-set",),
        canonical_subject=_subject,
        checks=(_short_clips,),
    )
    root = tmp_path / "data" / "TOY"
    pd.DataFrame(
        {
            "person": ["p01", "2"],
            "clip": ["a", "b"],
            "onset": ["1", "1"],
            "apex": ["2", "1"],
            "offset": ["3", "2"],
            "emotion": ["joy", "fear"],
        }
    ).to_csv(root.parent.mkdir(parents=True) or root.mkdir() or root / "labels.csv", index=False)
    import cv2
    import numpy as np

    for subject, clip, frames in (("P1", "a", 3), ("P2", "b", 2)):
        (root / subject / clip).mkdir(parents=True)
        for k in range(1, frames + 1):
            cv2.imwrite(str(root / subject / clip / f"f{k}.png"), np.full((8, 8), 40 * k, np.uint8))
    DATASETS.register("toyset", info)
    naming.refresh()
    yield root
    DATASETS.unregister("toyset")
    naming.refresh()


def test_outside_dataset_spelled_by_its_declaration(toyset):
    assert naming.canonical_dataset("TOY-SET") == "toyset"
    assert naming.canonical_ids("toy-set", "p007", "a") == ("toyset", "P7", "a")


def test_doctor_finds_an_outside_dataset_by_its_own_flag_and_runs_its_checks(toyset, tmp_path):
    result = CliRunner().invoke(app, ["doctor", "--toyset", str(toyset), "--json", "--no-images"])
    report = json.loads(result.output)
    toy = next(d for d in report["datasets"] if d["name"] == "toyset")
    assert (toy["origin"], toy["samples"], toy["subjects"], toy["usable"]) == (
        "--toyset",
        2,
        2,
        True,
    )
    assert [p["line"] for p in toy["problems"]] == [f"{toyset / 'labels.csv'}: b: only 2 frames"]
    assert "--toyset" in report["looked_for"]
    same = CliRunner().invoke(
        app, ["doctor", "--dataset-root", f"toyset={toyset}", "--json", "--no-images"]
    )
    toy2 = next(d for d in json.loads(same.output)["datasets"] if d["name"] == "toyset")
    assert toy2["samples"] == 2


def test_doctor_unknown_dataset_flag_is_a_usage_error(toyset, capsys):
    code, _, err = cli(["doctor", "--toysett", "/nowhere"], capsys)
    assert code == 2 and "unknown dataset 'toysett'; did you mean toyset?" in err
    code, _, err = cli(["doctor", "--toyset"], capsys)
    assert code == 2 and "--toyset expects a folder" in err
