"""Every plugin kind has a typed options class; `mer-bench list KIND --json` and `run --help-options`
show them, and `run --option SCOPE.NAME=VALUE` sets any of them, typed, next to the common flags
(which are spellings of the same options)."""

from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path

import pytest
import typer
from _cli import cli

from mer_bench.core.options import convert, describe, from_text, options_class
from mer_bench.core.registry import EXECUTORS, POLICIES, REGISTRIES


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_every_plugin_has_a_typed_options_class(kind):
    for name, plugin in REGISTRIES[kind].items():
        options = options_class(plugin)
        assert dataclasses.is_dataclass(options), (kind, name)
        for info in describe(options):
            assert info.type and info.name, (kind, name, info)


@pytest.mark.parametrize("registry", [EXECUTORS, POLICIES], ids=["executors", "policies"])
def test_constructor_options_are_the_options_and_each_is_worded(registry):
    for name, cls in registry.items():
        takes = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        infos = describe(options_class(cls))
        assert [i.name for i in infos] == takes, name
        assert all(i.help for i in infos), (name, [i.name for i in infos if not i.help])


def test_values_are_converted_to_the_declared_types():
    fold_parallel = options_class(EXECUTORS.get("fold-parallel"))
    assert convert(fold_parallel, {"chunk": "4", "workers": "none", "precision": "bf16"}, "x") == {
        "chunk": 4,
        "workers": None,
        "precision": "bf16",
    }
    nested = options_class(POLICIES.get("nested"))
    assert convert(nested, {"grid": '{"lr": [0.001, 0.01]}'}, "x") == {
        "grid": {"lr": [0.001, 0.01]}
    }
    assert from_text("yes", bool) is True and from_text("0.25", float) == 0.25
    assert from_text("/a/b", Path | None) == Path("/a/b")
    assert from_text("[1, 2]", tuple[float, float]) == (1, 2)
    with pytest.raises(Exception, match="expected an integer"):
        convert(fold_parallel, {"chunk": "many"}, "--option executor.*")
    with pytest.raises(Exception, match=r"takes no option 'chunks'.*did you mean chunk"):
        convert(fold_parallel, {"chunks": "2"}, "--option executor.*")


def test_list_json_and_run_help_show_the_options(capsys):
    code, out, _ = cli(["list", "executors", "--json"], capsys)
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0
    assert {o["name"]: (o["type"], o["default"]) for o in rows["fold-parallel"]["options"]} == {
        "workers": ("int | None", None),
        "chunk": ("int | None", None),
        "precision": ("str", "auto"),
    }
    code, out, _ = cli(["list", "models", "--json"], capsys)
    assert "epochs" in {o["name"] for o in json.loads(out)[0]["options"]}
    code, out, _ = cli(["run", "--help"], capsys, columns=200)
    assert code == 0 and "--option" in out and "--help-options" in out
    code, out, _ = cli(["run", "--help-options"], capsys, columns=200)
    assert code == 0
    assert "executor.* of fold-parallel: workers (int | None, default None); chunk" in out
    assert "selection.* of nested: inner_folds (int, default 5)" in out


@pytest.fixture()
def captured_config(monkeypatch):
    """`run`'s RunConfig, caught before anything trains."""
    from mer_bench.run import engine

    seen = {}

    def run_benchmark(config, store, resume=None):
        seen["config"] = config
        raise typer.Exit(0)

    monkeypatch.setattr(engine, "run_benchmark", run_benchmark)
    return seen


def test_run_options_reach_the_plugins_beside_the_flags(
    tiny_model, captured_config, store_path, capsys
):
    code, _, err = cli(
        [
            "run",
            "-m",
            tiny_model,
            "--store",
            str(store_path),
            "--selection",
            "nested",
            "--executor",
            "fold-parallel",
            "-o",
            "executor.chunk=3",
            "--option",
            "executor.workers=2",
            "--option",
            "selection.inner_folds=3",
            "--option",
            "source.difficulty=easy",
            "--demo-subjects",
            "6",
        ],
        capsys,
    )
    assert code == 0, err
    config = captured_config["config"]
    assert config.executor_options == {"chunk": 3} and config.workers == 2
    assert config.selection_options == {"inner_folds": 3}
    assert (config.source_options.difficulty, config.source_options.subjects) == ("easy", 6)
    code, _, err = cli(
        [
            "run",
            "-m",
            tiny_model,
            "--store",
            str(store_path),
            "--inner-folds",
            "4",
            "--selection",
            "nested",
            "--option",
            "selection.inner_folds=4",
            "--workers",
            "2",
            "--option",
            "executor.workers=2",
        ],
        capsys,
    )
    assert code == 0, err  # a flag and an option that agree


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--option", "executor.chunk=2"],
            "--option executor.* (executor 'local') takes no option 'chunk'",
        ),
        (["--option", "chunk=2"], "--option expects SCOPE.NAME=VALUE"),
        (
            ["--option", "model.chunk=2"],
            "no scope 'model' here (scopes: source, selection, executor)",
        ),
        (["--option", "source.subjects=many"], "option subjects='many': expected an integer"),
        (["--option", "source.preprocessing={}"], "option preprocessing is a PreprocessConfig"),
        (
            ["--selection", "nested", "--inner-folds", "3", "--option", "selection.inner_folds=4"],
            "--inner-folds 3 and --option selection.inner_folds=4 disagree",
        ),
        (
            ["--workers", "1", "--option", "executor.workers=2"],
            "--workers 1 and --option executor.workers=2 disagree",
        ),
    ],
)
def test_bad_options_are_one_line_usage_errors(
    tiny_model, captured_config, store_path, capsys, argv, message
):
    code, _, err = cli(["run", "-m", tiny_model, "--store", str(store_path), *argv], capsys)
    assert code == 2 and message in err, err
    assert "config" not in captured_config


def test_a_resumed_run_takes_only_where_and_how_options():
    from mer_bench.cli.run_cmd import _resumable_options
    from mer_bench.core.errors import UsageError

    _resumable_options(
        {"executor": {"workers": 2, "chunk": 3}, "source": {"cache_dir": "/c"}}, "demo"
    )
    with pytest.raises(UsageError, match="--option selection.inner_folds: a resumed run keeps"):
        _resumable_options({"selection": {"inner_folds": 3}}, "demo")
    with pytest.raises(UsageError, match="--option source.difficulty: a resumed run keeps"):
        _resumable_options({"source": {"difficulty": "easy"}}, "demo")
