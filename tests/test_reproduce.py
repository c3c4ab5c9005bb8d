"""`mer-bench reproduce`: a result file re-run on a folder in the published layout agrees with
itself; other data, other samples and edited files are refused with one line, nothing stored."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from _cli import cli

from mer_bench.core.errors import DataError
from mer_bench.data.sources import source_options
from mer_bench.results.export import export_json
from mer_bench.results.store import Store
from mer_bench.run.engine import RunConfig, run_benchmark
from mer_bench.run.reproduce import reproduce


@pytest.fixture(scope="module")
def result_file(tmp_path_factory, htnet_clone):
    """A result file of the tiny model on the published layout (2 epochs, sequential)."""
    from conftest import tiny_spec

    from mer_bench.core import registry

    registry.register(tiny_spec())
    folder = tmp_path_factory.mktemp("result")
    with Store(folder / "made.sqlite") as store:
        summary = run_benchmark(
            RunConfig(
                model=tiny_spec().card.name,
                protocol="megc2019",
                source="flows",
                device="cpu",
                executor="sequential",
                epochs=2,
                command="mer-bench run ...",
                source_options=source_options(
                    "flows", data_root=htnet_clone, cache_dir=folder / "cache"
                ),
            ),
            store,
        )
        path = folder / f"{summary.run_id}.json"
        path.write_text(json.dumps(export_json(store, store.run(summary.run_id))))
    return path


def test_a_result_re_run_agrees_with_itself(result_file, htnet_clone, tmp_path, tiny_model):
    moved = tmp_path / "clone-elsewhere"  # a user's clone lies elsewhere: same data
    shutil.copytree(htnet_clone, moved)
    agreement = reproduce(result_file, {"data_root": moved, "cache_dir": tmp_path / "cache"})
    assert agreement.same_class == 1.0 and agreement.max_prob_difference == 0.0
    assert all(d == 0 for d in agreement.differences().values())
    assert agreement.new.n_samples == 442 and agreement.kept_in is None
    assert agreement.stored.run_id != agreement.new.run_id


def test_other_data_or_samples_are_refused_before_training(
    result_file, htnet_clone, tmp_path, tiny_model, megc_manifest, capsys
):
    from conftest import write_flow_folder

    other = tmp_path / "other"
    shutil.copytree(htnet_clone, other)
    flows = other / "datasets" / "STSNet_whole_norm_u_v_os"
    shutil.rmtree(flows)
    write_flow_folder(flows, megc_manifest, seed=1)  # the same samples, other flows
    with pytest.raises(DataError, match="not the data of this result .*data.flows_sha256"):
        reproduce(result_file, {"data_root": other, "cache_dir": tmp_path / "cache"})
    fewer = tmp_path / "fewer"
    shutil.copytree(htnet_clone, fewer)
    next((fewer / "datasets" / "STSNet_whole_norm_u_v_os").iterdir()).unlink()
    store = tmp_path / "mine.sqlite"
    code, _, err = cli(
        [
            "reproduce",
            str(result_file),
            "--data-root",
            str(fewer),
            "--store",
            str(store),
            "--cache-dir",
            str(tmp_path / "cache"),
            "-q",
        ],
        capsys,
    )
    assert code == 3 and len(err.strip().splitlines()) == 1 and "no flow PNG" in err
    assert not store.exists() or not Store(store, read_only=True).runs()


def test_an_edited_result_file_is_refused_naming_the_field(
    result_file, htnet_clone, tmp_path, tiny_model, capsys
):
    data = json.loads(result_file.read_text())
    data["predictions"][0]["label"] = (data["predictions"][0]["label"] + 1) % 3
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data))
    code, _, err = cli(["reproduce", str(edited), "--data-root", str(htnet_clone), "-q"], capsys)
    assert code == 3 and len(err.strip().splitlines()) == 1 and "label" in err


def test_the_cli_prints_agreement_and_writes_json(
    result_file, htnet_clone, tmp_path, tiny_model, capsys
):
    out = tmp_path / "agreement.json"
    code, stdout, err = cli(
        [
            "reproduce",
            str(result_file),
            "--data-root",
            str(htnet_clone),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--json",
            str(out),
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    assert "same class" in stdout and "100.0%" in stdout
    report = json.loads(out.read_text())
    assert report["same_class"] == 1.0 and report["samples"] == 442
    assert np.isclose(report["difference"]["uf1"], 0.0)
