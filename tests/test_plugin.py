"""Third-party plugins: an outside package adds a model through the `mer_bench.models` entry
point; a plugin that fails to import or declares a bad card is listed as broken and does not
break the other models."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _entry_points import add_entry_points
from typer.testing import CliRunner

from mer_bench.core import registry
from mer_bench.cli import app
from mer_bench.core.errors import MerBenchError

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "mer-bench-example-plugin"
EXAMPLE_DIST = "mer-bench-example-plugin"
EXAMPLE_MODEL = "example-cnn"

BAD_PLUGIN = textwrap.dedent("""
    from mer_bench.core.cards import ModelCard, ModelSpec, Recipe

    def _card(name, **changes):
        fields = dict(name=name, description="A plugin model.", reference="tests", year=2025,
                      view="flow28", num_params=1, recipe=Recipe())
        fields.update(changes)
        return ModelCard(**fields)

    def bad_card():
        # Raises while the entry point loads: a view mer-bench does not know.
        return ModelSpec(card=_card("bad-card", view="video"), build=lambda n: None)

    wrong_name = ModelSpec(card=_card("some-other-name"), build=lambda n: None)
    not_a_spec = 42
""")

FAKE_ENTRIES = {
    "broken-import": "mer_bench_no_such_plugin_module:spec",
    "bad-card": "mer_bench_bad_plugin:bad_card",
    "wrong-name": "mer_bench_bad_plugin:wrong_name",
    "not-a-spec": "mer_bench_bad_plugin:not_a_spec",
}


@pytest.fixture()
def broken_plugins(monkeypatch, tmp_path):
    """Installed entry points plus four broken ones, as `importlib.metadata` would list them."""
    (tmp_path / "mer_bench_bad_plugin.py").write_text(BAD_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    add_entry_points(monkeypatch, registry.MODELS.group, FAKE_ENTRIES)
    yield
    monkeypatch.undo()
    registry.refresh()
    sys.modules.pop("mer_bench_bad_plugin", None)


def test_broken_plugins_are_listed_with_their_error(broken_plugins) -> None:
    broken = {b.name: b for b in registry.MODELS.broken()}
    assert set(broken) == set(FAKE_ENTRIES)
    assert broken["broken-import"].error.startswith("ModuleNotFoundError: ")
    assert "mer_bench_no_such_plugin_module" in broken["broken-import"].error
    assert broken["bad-card"].error.startswith("ValueError: card bad-card: view 'video'")
    assert "unknown view 'video'" in broken["bad-card"].error
    assert "differs from card name 'some-other-name'" in broken["wrong-name"].error
    assert broken["not-a-spec"].error == "TypeError: entry point must give a ModelSpec, got int"
    assert broken["bad-card"].target == "mer_bench_bad_plugin:bad_card"
    # The other models are untouched.
    models = registry.MODELS.loaded()
    assert not set(FAKE_ENTRIES) & set(models)
    assert {"ststnet", "svm-hoof", "htnet"} <= set(models)
    assert registry.get_model("ststnet").card.num_params == 1_683
    with pytest.raises(MerBenchError, match="model 'bad-card' from .* is broken: ValueError"):
        registry.get_model("bad-card")


def test_a_name_registered_twice_is_an_error_naming_both_origins(monkeypatch) -> None:
    add_entry_points(monkeypatch, registry.MODELS.group, {"ststnet": "somewhere_else:spec"})
    try:
        with pytest.raises(
            MerBenchError,
            match=r"registered twice: mer_bench_baselines.ststnet:"
            r"spec \(from mer-bench\) and somewhere_else:spec",
        ):
            registry.get_model("ststnet")
        assert registry.get_model("htnet-tiny").card.name == "htnet-tiny"
    finally:
        monkeypatch.undo()
        registry.refresh()
    # in-process registration of a taken name is refused too, naming who has it
    other = registry.get_model("ststnet")
    import dataclasses

    clash = dataclasses.replace(other, build=lambda n: None)
    with pytest.raises(MerBenchError, match="already registered by mer-bench"):
        registry.MODELS.register("ststnet", clash)


def test_cli_lists_broken_plugins_beside_working_models(broken_plugins) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["list", "models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    for name in FAKE_ENTRIES:
        assert rows[name]["status"] == "broken"
        assert rows[name]["error"]
    assert rows["ststnet"]["status"] == "ok" and rows["ststnet"]["num_params"] == 1_683
    table = runner.invoke(app, ["list", "models"])
    assert table.exit_code == 0, table.output
    assert "broken" in table.stdout and "bad-card" in table.stdout


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`mer-bench ARGS` in a fresh process (a fresh process re-reads the installed entry points)."""
    return subprocess.run(
        [sys.executable, "-c", "from mer_bench.cli import main; main()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args, "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_example_plugin_installs_lists_runs_and_stores(tmp_path) -> None:
    if _pip("show", EXAMPLE_DIST).returncode == 0:
        pytest.fail(f"{EXAMPLE_DIST} is already installed; uninstall it before running this test")
    source = tmp_path / "plugin-src"  # build from a copy: the repo's example stays clean
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    try:
        # No build isolation: nothing is downloaded, the running environment's setuptools builds.
        installed = _pip("install", "--no-deps", "--no-build-isolation", "--quiet", str(source))
        assert installed.returncode == 0, installed.stderr

        listed = _cli("list", "models", "--json", cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        rows = {row["name"]: row for row in json.loads(listed.stdout)}
        assert rows[EXAMPLE_MODEL]["status"] == "ok"
        assert rows[EXAMPLE_MODEL]["origin"] == EXAMPLE_DIST
        assert rows[EXAMPLE_MODEL]["num_params"] == 5_187
        assert rows["ststnet"]["status"] == "ok"
        clip = rows["example-clip"]  # a second plugin model, on the clip view
        assert (clip["status"], clip["origin"], clip["view"], clip["num_params"]) == (
            "ok",
            EXAMPLE_DIST,
            "clip",
            979,
        )
        assert clip["view_params"] == {"length": 4, "size": 64, "span": "offset", "color": "grey"}
        checked = _cli("check", "example-clip", "--json", cwd=tmp_path)
        assert checked.returncode == 0, checked.stdout + checked.stderr

        store_path = tmp_path / "results.sqlite"
        summary_path = tmp_path / "summary.json"
        ran = _cli(
            "run",
            "--model",
            EXAMPLE_MODEL,
            "--protocol",
            "megc2019",
            "--source",
            "demo",
            "--epochs",
            "2",
            "--demo-subjects",
            "4",
            "--store",
            str(store_path),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--json",
            str(summary_path),
            "--quiet",
            cwd=tmp_path,
        )
        assert ran.returncode == 0, ran.stderr + ran.stdout
        summary = json.loads(summary_path.read_text())
        assert summary["model"] == EXAMPLE_MODEL and summary["epochs"] == 2
        assert 0.0 <= summary["uf1"] <= 1.0 and 0.0 <= summary["uar"] <= 1.0

        from mer_bench.results.store import Store

        store = Store(store_path)
        try:
            (run,) = store.runs()
            assert run.run_id == summary["run_id"]
            assert run.status == "finished" and run.model == EXAMPLE_MODEL
            assert run.card["num_params"] == 5_187
            assert store.finished_folds(run.run_id) == set(range(run.n_folds))
            assert len(store.predictions(run.run_id)) > 0
        finally:
            store.close()

        clip_run = _cli(
            "run",
            "--model",
            "example-clip",
            "--protocol",
            "megc2019",
            "--source",
            "demo",
            "--epochs",
            "1",
            "--demo-subjects",
            "4",
            "--store",
            str(store_path),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--json",
            str(summary_path),
            "--quiet",
            cwd=tmp_path,
        )
        assert clip_run.returncode == 0, clip_run.stderr + clip_run.stdout
        clip_summary = json.loads(summary_path.read_text())
        assert clip_summary["model"] == "example-clip" and clip_summary["n_samples"] == 40
        store = Store(store_path)
        try:
            run = store.run(clip_summary["run_id"])
            assert run.view == "clip" and run.identity["view"]["length"] == 4
            assert run.provenance["view"]["name"] == "clip"
        finally:
            store.close()
    finally:
        removed = _pip("uninstall", "--yes", EXAMPLE_DIST)
        assert removed.returncode == 0, removed.stderr
        registry.refresh()
    assert _pip("show", EXAMPLE_DIST).returncode != 0
