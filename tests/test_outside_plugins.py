"""Proof from outside: examples/mer-bench-toy-plugin, a separate package, adds a view, a model on
it (with a declared loss and augmentations), a dataset in a layout of its own, a protocol on it,
a selection policy and an executor, with no file of mer-bench edited. The test installs it with
pip into a folder of its own, builds the dataset's files, and runs `mer-bench` in a child
process that sees the package there (so no other test sees it)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "examples" / "mer-bench-toy-plugin"
#: The synthetic emotions of each dataset's generated clips -> the toy dataset's feelings.
FEELINGS = {
    "happiness": "glad",
    "positive": "glad",
    "disgust": "sad",
    "repression": "sad",
    "anger": "sad",
    "contempt": "sad",
    "sadness": "sad",
    "fear": "sad",
    "negative": "sad",
    "surprise": "startled",
}
SPELLINGS = ("p{}", "P{:02d}", "person-{}")  # the owners spell persons three ways


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The example package pip-installed (not editable) into a folder of its own."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    shutil.copytree(PACKAGE, build / "pkg")  # pip writes build files beside the source
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(build / "pkg"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert any(
        p.name.startswith("mer_bench_toy_plugin") and p.suffix == ".dist-info"
        for p in target.iterdir()
    )
    return target


@pytest.fixture(scope="module")
def toyfaces(tmp_path_factory) -> Path:
    """A toyfaces tree: synthetic clips (mer-bench's generator) written in the toy layout."""
    from mer_bench.data.synth.generate import generate
    from mer_bench.data.synth.writers import clip_dir, frame_name

    synth = tmp_path_factory.mktemp("synth")
    root = tmp_path_factory.mktemp("data") / "TOYFACES"
    records = generate(synth, subjects=4, seed=3, clips_per_subject=4)
    persons: dict[tuple[str, str], int] = {}
    rows = []
    for record in records:
        feeling = FEELINGS.get(record.emotion.lower(), "neutral")
        number = persons.setdefault((record.dataset, record.subject), len(persons) + 1)
        folder = root / "faces" / f"P{number:02d}" / record.clip
        folder.mkdir(parents=True)
        for frame in range(record.onset, record.offset + 1):
            image = cv2.imread(str(clip_dir(synth, record) / frame_name(record, frame)))
            cv2.imwrite(str(folder / f"{frame}.png"), image)
        rows.append(
            {
                "person": SPELLINGS[number % 3].format(number),
                "clip": record.clip,
                "onset": record.onset,
                "apex": record.apex,
                "offset": record.offset,
                "feeling": feeling,
            }
        )
    with (root / "labels.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def mer_bench(site: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "MER_BENCH_REFERENCE": "0",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "mer_bench", *argv],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=cwd,
        check=False,
    )


def test_the_package_is_listed_with_every_plugin_kind(installed, tmp_path):
    for kind, name in (
        ("views", "apex-difference"),
        ("datasets", "toyfaces"),
        ("protocols", "toyfaces-3c"),
        ("models", "toy-net"),
        ("policies", "half-epochs"),
        ("executors", "reversed"),
    ):
        done = mer_bench(installed, "list", kind, "--json", cwd=tmp_path)
        rows = {r["name"]: r for r in json.loads(done.stdout)}
        assert rows[name]["status"] == "ok" and rows[name]["origin"] == "mer-bench-toy-plugin", kind
    done = mer_bench(installed, "list", "executors", "--json", cwd=tmp_path)
    reversed_ = {r["name"]: r for r in json.loads(done.stdout)}["reversed"]
    assert {o["name"]: o["default"] for o in reversed_["options"]} == {
        "workers": None,
        "order": "reversed",
    }
    done = mer_bench(installed, "check", "toy-net", cwd=tmp_path)  # forward pass, parameters
    assert done.returncode == 0, done.stderr[-2000:]


def test_doctor_reads_the_outside_dataset(installed, toyfaces, tmp_path):
    done = mer_bench(
        installed, "doctor", "--toyfaces", str(toyfaces), "--no-images", "--json", cwd=tmp_path
    )
    report = json.loads(done.stdout)
    toy = next(d for d in report["datasets"] if d["name"] == "toyfaces")
    assert toy["usable"] and toy["subjects"] == 4 and toy["origin"] == "--toyfaces"
    protocol = next(p for p in report["protocols"] if p["name"] == "toyfaces-3c")
    assert protocol["ok"] and protocol["subjects"] == 4


@pytest.mark.slow
def test_mer_bench_run_trains_the_outside_model_on_the_outside_dataset(
    installed, toyfaces, tmp_path
):
    out = tmp_path / "summary.json"
    done = mer_bench(
        installed,
        "run",
        "-m",
        "toy-net",
        "-p",
        "toyfaces-3c",
        "--source",
        "raw",
        "--dataset-root",
        f"toyfaces={toyfaces}",
        "--flow",
        "farneback",
        "--selection",
        "half-epochs",
        "--executor",
        "reversed",
        "--option",
        "executor.order=reversed",
        "--option",
        "selection.minimum=2",
        "--store",
        str(tmp_path / "results.sqlite"),
        "--cache-dir",
        str(tmp_path / "cache"),
        "-q",
        "--json",
        str(out),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(out.read_text())
    assert summary["model"] == "toy-net" and summary["protocol"] == "toyfaces-3c"
    assert summary["n_subjects"] == 4 and summary["n_samples"] >= 8
    done = mer_bench(
        installed, "results", "--store", str(tmp_path / "results.sqlite"), "--json", cwd=tmp_path
    )
    (run,) = json.loads(done.stdout)
    assert (
        run["selection"] == "half-epochs" and run["honest"] is True and run["status"] == "finished"
    )
