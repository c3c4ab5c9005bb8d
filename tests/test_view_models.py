"""Models on views beyond flow28: the frames, clip and 112 px flow baselines run through
`mer-bench run` on the demo, with their view stored as part of the run's identity; a source
that cannot give a model's view says which can."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from mer_bench.core import registry
from mer_bench.cli import app
from mer_bench.run.engine import RunConfig, prepare_run
from mer_bench.core.errors import MerBenchError
from mer_bench.data.sources import source_options
from mer_bench.results.store import Store

#: view baseline -> (view, exact parameters for 3 classes)
VIEW_BASELINES = {
    "resnet18-frames": ("frames", 11_187_459),
    "resnet18-flow112": ("flow", 11_178_051),
    "c3d-small": ("clip", 294_771),
    "r3d18-clip": ("clip", 33_167_811),
}


@pytest.mark.parametrize("name", sorted(VIEW_BASELINES))
def test_view_baselines_declare_their_view(name):
    card = registry.get_model(name).card
    view, params = VIEW_BASELINES[name]
    assert card.view == view and card.num_params == params
    assert card.view_config().name == view and card.view_config().size == 112


def test_the_flows_source_refuses_another_view_naming_what_would_work(flows_dir):
    config = RunConfig(
        model="c3d-small",
        protocol="megc2019",
        source="flows",
        source_options=source_options("flows", data_root=flows_dir),
    )
    with pytest.raises(
        MerBenchError,
        match=r"consumes the clip view, which source 'flows' "
        r"cannot give .*use --source raw or --source demo",
    ):
        prepare_run(config)


@pytest.fixture(scope="module")
def demo_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("view-demo")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18-frames", "resnet18-flow112", "c3d-small"])
def test_view_baseline_runs_on_the_demo(name, demo_cache, tmp_path):
    """`mer-bench run --model NAME --protocol megc2019 --source demo --epochs 1` (a 3-subject demo
    to keep CI short), stored with its view."""
    store_path, summary_path = tmp_path / "results.sqlite", tmp_path / "summary.json"
    torch.set_num_threads(1)
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--model",
            name,
            "--protocol",
            "megc2019",
            "--source",
            "demo",
            "--epochs",
            "1",
            "--demo-subjects",
            "3",
            "--store",
            str(store_path),
            "--cache-dir",
            str(demo_cache),
            "--json",
            str(summary_path),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    summary = json.loads(summary_path.read_text())
    assert summary["model"] == name and summary["epochs"] == 1 and summary["n_subjects"] == 3
    with Store(store_path) as store:
        (run,) = store.runs()
        view, params = VIEW_BASELINES[name]
        assert run.status == "finished" and run.view == view
        assert run.identity["view"]["name"] == view and run.identity["view"]["size"] == 112
        assert run.card["num_params"] == params and run.provenance["view"]["name"] == view
        assert len(store.predictions(run.run_id)) == summary["n_samples"] > 0
