"""`mer-bench doctor` on fixture trees: report contents, problems with file and row, exit code."""

from __future__ import annotations

import json

import pytest
from _dataset_trees import casme2_tree, samm_tree, smic_tree
from typer.testing import CliRunner

from mer_bench.cli import app


pytestmark = pytest.mark.usefixtures("no_dataset_env")


def _tree(root):
    casme2_tree(
        root / "CASME2",
        [
            dict(subject=1, sample="EP02_01f", onset=46, apex=47, offset=48, emotion="happiness"),
            dict(subject=2, sample="EP03_01", onset=1, apex=2, offset=3, emotion="disgust"),
        ],
    )
    samm_tree(
        root / "SAMM",
        [
            dict(subject=6, sample="006_1_2", onset=10, apex=11, offset=12, emotion="Anger"),
            dict(subject=7, sample="007_1_1", onset=10, apex=11, offset=12, emotion="Surprise"),
        ],
    )
    smic_tree(
        root / "SMIC",
        [dict(subject="s1", sample="s1_ne_01", onset=5, apex=None, offset=7, emotion="negative")],
    )
    return root


def test_doctor_json_all_usable(tmp_path):
    root = _tree(tmp_path / "data")
    result = CliRunner().invoke(app, ["doctor", "--data-root", str(root), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    by_name = {d["name"]: d for d in report["datasets"]}
    assert by_name["casme2"]["counts"] == {"disgust": 1, "happiness": 1}
    assert by_name["samm"]["samples"] == 2 and by_name["samm"]["subjects"] == 2
    assert (
        by_name["smic"]["path"] == str(root / "SMIC") and by_name["smic"]["origin"] == "--data-root"
    )
    assert by_name["casme3"]["configured"] is False
    protocols = {p["name"]: p for p in report["protocols"]}
    assert (protocols["casme2"]["samples"], protocols["casme2"]["subjects"]) == (2, 2)
    assert (
        protocols["megc2019"]["ok"] is False and len(protocols["megc2019"]["missing"]) == 439
    )  # 3 of 442 present
    assert protocols["casme3-3c"]["message"] == "datasets not usable: casme3"


def test_doctor_problems_and_exit_code(tmp_path):
    root = _tree(tmp_path / "data")
    (root / "CASME2/CASME2_RAW_selected/sub02/EP03_01/img2.jpg").write_bytes(b"not a jpeg")
    (root / "SAMM/007/007_1_1/007_00011.jpg").unlink()
    result = CliRunner().invoke(
        app, ["doctor", "--data-root", str(root), "--casme3", str(tmp_path / "none")]
    )
    assert result.exit_code == 1
    out = result.output
    assert (
        f"ERROR {root}/CASME2/CASME2_RAW_selected/sub02/EP03_01/img2.jpg: EP03_01: unreadable image (apex frame)"
        in out
    )
    assert f"ERROR {root}/SAMM/007/007_1_1, row 16: 007_1_1: missing apex frame 11" in out
    assert f"casme3: MISSING at {tmp_path / 'none'} (from --casme3)" in out
    assert "casme2: found, NOT usable" in out and "smic: usable" in out
    assert "  samm: not resolvable: datasets not usable: samm" in out


def test_doctor_nothing_configured(tmp_path):
    result = CliRunner().invoke(app, ["doctor", "--data-root", str(tmp_path)])
    assert result.exit_code == 1
    assert (
        f"casme2: not configured (looked at: {tmp_path / 'CASME2'} (--data-root))" in result.output
    )
    assert result.output.rstrip().endswith(
        "error: not ok: no dataset configured (see where datasets are looked for, above)"
    )
    # the environment variables and config file it reads are named
    for name in (
        "$MER_BENCH_CASME2",
        "$MER_BENCH_SAMM",
        "$MER_BENCH_DATA_ROOT",
        "$MER_BENCH_CONFIG",
    ):
        assert name in result.output


def test_doctor_corrupt_sheet_is_found_but_not_usable(tmp_path):
    root = _tree(tmp_path / "data")
    (sheet,) = (root / "CASME2").glob("*.xlsx")
    sheet.write_bytes(b"this is not a spreadsheet")
    result = CliRunner().invoke(app, ["doctor", "--data-root", str(root), "--no-images"])
    assert result.exit_code == 1
    assert f"casme2: found, NOT usable at {root / 'CASME2'}" in result.output
    assert (
        f"{sheet}: cannot read annotation sheet 0 (not a readable Excel file: corrupt, or not "
        ".xls/.xlsx content)"
    ) in result.output
    assert "MISSING" not in result.output and "engine" not in result.output


def test_doctor_exits_1_when_a_requested_protocol_does_not_resolve(tmp_path):
    root = _tree(tmp_path / "data")
    result = CliRunner().invoke(
        app, ["doctor", "--data-root", str(root), "--no-images", "--protocol", "casme2"]
    )
    assert result.exit_code == 0, result.output  # casme2 resolves (2 samples)
    result = CliRunner().invoke(
        app,
        [
            "doctor",
            "--data-root",
            str(root),
            "--no-images",
            "--protocol",
            "casme2",
            "--protocol",
            "megc2019",
        ],
    )
    assert result.exit_code == 1
    assert "error: not ok: requested protocol megc2019 is not resolvable" in result.output
