"""The public composite as HTNet's authors publish it: flow PNGs plus one aligned face image per
sample, from which each sample's region points are found (HTNet's fallback points where no face
is found), and the data identified by content rather than by where it lies."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from _cli import cli
from conftest import WITH_FACE

from mer_bench.data.contract import FALLBACK_POINTS
from mer_bench.data.preprocess.points import five_points_in_image
from mer_bench.data.sources import make_source, source_options
from mer_bench.results.store import Store
from mer_bench.run.engine import RunConfig, run_benchmark


def test_points_are_found_on_faces_and_fall_back_elsewhere(htnet_clone, megc_manifest, tmp_path):
    source = make_source("flows", data_root=htnet_clone, cache_dir=tmp_path)
    arrays = source.arrays(megc_manifest)
    assert (~arrays.points_fallback).sum() == WITH_FACE
    assert not arrays.points_fallback[:WITH_FACE].any()
    np.testing.assert_array_equal(
        arrays.points[WITH_FACE:], np.repeat(FALLBACK_POINTS[None], 442 - WITH_FACE, 0)
    )
    found = arrays.points[0]
    # the face: eyes above the nose, nose above the mouth corners, left on the left
    assert found[0, 0] < found[2, 0] < found[1, 0] and found[3, 0] < found[4, 0]
    assert max(found[0, 1], found[1, 1]) < found[2, 1] < min(found[3, 1], found[4, 1])
    first = megc_manifest.iloc[0]
    written = cv2.imread(
        str(
            htnet_clone
            / "datasets"
            / "combined_datasets_whole"
            / f"{first['subject']}_{first['sample']}.jpg"
        )
    )
    np.testing.assert_allclose(found, five_points_in_image(written, 28))
    provenance = source.provenance()
    assert provenance["points_found"] == WITH_FACE
    assert len(provenance["points_fallback_samples"]) == 442 - WITH_FACE
    identity = source.data_identity()
    assert identity["points"].startswith("faces:") and identity["faces_sha256"]


def test_the_data_is_identified_by_content_not_by_path(htnet_clone, megc_manifest, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.copytree(htnet_clone, moved)
    a = make_source("flows", data_root=htnet_clone, cache_dir=tmp_path)
    b = make_source("flows", data_root=moved, cache_dir=tmp_path)
    a.arrays(megc_manifest)
    b.arrays(megc_manifest)
    assert a.data_identity() == b.data_identity()
    flows_only = make_source(
        "flows", data_root=htnet_clone / "datasets" / "STSNet_whole_norm_u_v_os", cache_dir=tmp_path
    )
    flows_only.arrays(megc_manifest)
    assert flows_only.data_identity()["points"] == "fallback"
    assert flows_only.data_identity()["flows_sha256"] == a.data_identity()["flows_sha256"]
    cv2.imwrite(
        str(next((moved / "datasets" / "combined_datasets_whole").iterdir())),
        np.zeros((224, 224, 3), np.uint8),
    )
    changed = make_source("flows", data_root=moved, cache_dir=tmp_path)
    changed.arrays(megc_manifest)
    assert changed.data_identity()["faces_sha256"] != a.data_identity()["faces_sha256"]


@pytest.mark.parametrize(
    "damage, named",
    [
        ("missing", "have no face image"),
        ("extra", "match no sample"),
        ("unreadable", "unreadable face image"),
        ("duplicate", "several files match"),
    ],
)
def test_a_damaged_face_folder_is_one_line_naming_the_file(
    htnet_clone, tmp_path, capsys, damage, named
):
    root = tmp_path / "htnet_clone"
    shutil.copytree(htnet_clone, root)
    faces = root / "datasets" / "combined_datasets_whole"
    first = sorted(faces.iterdir())[0]
    if damage == "missing":
        first.unlink()
    elif damage == "extra":
        shutil.copy(first, faces / "sub99_EP99_99.jpg")
    elif damage == "unreadable":
        first.write_bytes(b"not a jpeg")
    else:
        shutil.copy(first, first.with_suffix(".png"))
    store = tmp_path / "results.sqlite"
    code, _, err = cli(
        [
            "run",
            "--model",
            "ststnet",
            "--source",
            "flows",
            "--data-root",
            str(root),
            "--epochs",
            "1",
            "--store",
            str(store),
            "--cache-dir",
            str(tmp_path / "cache"),
            "-q",
        ],
        capsys,
    )
    assert code == 3, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and named in lines[0]
    if damage in ("missing", "unreadable", "duplicate"):
        assert first.stem in lines[0] or str(faces) in lines[0]
    assert not store.exists() or not Store(store, read_only=True).runs()


def test_a_run_records_its_points_and_resumes_from_its_stored_location(
    tiny_model, htnet_clone, store_path, tmp_path
):
    store = Store(store_path)
    config = RunConfig(
        model=tiny_model,
        protocol="megc2019",
        source="flows",
        device="cpu",
        executor="sequential",
        epochs=1,
        source_options=source_options("flows", data_root=htnet_clone, cache_dir=tmp_path),
    )
    summary = run_benchmark(config, store)
    run = store.run(summary.run_id)
    assert run.provenance["points_found"] == WITH_FACE
    assert run.provenance["source_options"]["data_root"] == str(htnet_clone.resolve())
    assert "data_root" not in run.identity["data"]
    from mer_bench.run.engine import resume_config

    again = resume_config(run)
    assert again.source_options.data_root == htnet_clone.resolve()


def test_reference_points_need_facenet_pytorch_and_say_how_to_get_it(
    htnet_clone, megc_manifest, tmp_path, monkeypatch, capsys
):
    import sys

    from mer_bench.core.errors import DataError

    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)  # not installed
    source = make_source("flows", data_root=htnet_clone, face_points="mtcnn", cache_dir=tmp_path)
    with pytest.raises(DataError, match="pip install --no-deps facenet-pytorch"):
        source.arrays(megc_manifest)
    code, _, err = cli(
        [
            "run",
            "--model",
            "ststnet",
            "--source",
            "flows",
            "--data-root",
            str(htnet_clone),
            "--face-points",
            "haar",
            "--store",
            str(tmp_path / "r.sqlite"),
            "-q",
        ],
        capsys,
    )
    assert code == 2 and "--face-points must be one of dlib, mtcnn, got 'haar'" in err
    assert len(err.strip().splitlines()) == 1
