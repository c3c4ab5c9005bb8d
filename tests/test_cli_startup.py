"""The first hour: help text for every option (defaults shown, nothing swallowed as markup), and
a start-up that imports no heavy library for --help and for name errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from _cli import cli

from mer_bench.cli import app

HEAVY = ("torch", "pandas", "sqlalchemy", "cv2", "streamlit", "sklearn", "timm", "altair")


def _commands():
    from typer.main import get_command

    return get_command(app).commands


def test_every_option_and_argument_has_help():
    missing = [
        f"{name} {param.name}"
        for name, command in _commands().items()
        for param in command.params
        if not getattr(param, "help", None)
    ]
    assert not missing


@pytest.mark.parametrize(
    "command, shown",
    [
        (
            "run",
            [
                "[default: megc2019]",
                "Results database: a file or a database URL (default: "
                "$MER_BENCH_STORE, else ~/.local/share/mer-bench/results.sqlite).",
            ],
        ),
        (
            "score",
            [
                "Registered protocol whose labels score the predictions.",
                "[default: auto]",
                "Where the metrics are computed: auto | cpu | cuda.",
            ],
        ),
        ("results", ["Results database: a file or a database URL"]),
        ("table", ["markdown | latex | csv", "[default: markdown]"]),
        ("synth", ["(default 12)", "(default 10)", "--force"]),
    ],
)
def test_help_shows_defaults_and_every_store_option_the_same(command, shown, capsys):
    code, out, _ = cli([command, "--help"], capsys, columns=400)
    assert code == 0
    text = " ".join(out.split())
    for words in shown:
        assert words in text
    assert "Results database ." not in text


def test_synth_help_defaults_are_the_generators():
    from mer_bench.cli.synth_cmd import HELP_DEFAULT_CLIPS, HELP_DEFAULT_SUBJECTS
    from mer_bench.data.preprocess.config import FLOW_METHODS
    from mer_bench.data.synth.generate import DEFAULT_CLIPS_PER_SUBJECT, DEFAULT_SUBJECTS

    assert (HELP_DEFAULT_SUBJECTS, HELP_DEFAULT_CLIPS) == (
        DEFAULT_SUBJECTS,
        DEFAULT_CLIPS_PER_SUBJECT,
    )
    prepare = _commands()["prepare"]
    flow = next(p for p in prepare.params if p.name == "flow")
    assert all(method in flow.help for method in FLOW_METHODS)


PROBE = """
import json, sys
argv, heavy = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sys.argv = ["mer-bench", *argv]
from mer_bench.cli import main
try:
    main()
except SystemExit as exc:
    print(json.dumps({"code": exc.code, "heavy": [m for m in heavy if m in sys.modules]}))
"""


@pytest.mark.parametrize(
    "argv, code",
    [
        (["--help"], 0),
        (["run", "--help"], 0),
        (["table", "--help"], 0),
        (["run", "--model", "htnte"], 2),
        (["run", "--model", "htnet", "--protocol", "megc2091"], 2),
        (["run", "--model", "htnet", "--source", "dmo"], 2),
        (["score", "p.csv", "--protocol", "megc2091"], 2),
        (["list", "modles"], 2),
    ],
)
def test_help_and_name_errors_import_no_heavy_library(argv, code):
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"code": code, "heavy": []}, done.stderr
