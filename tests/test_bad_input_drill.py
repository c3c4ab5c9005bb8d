"""The bad-input drill: every bad input a user can give `mer-bench` gets the right exit code, a
last line on stderr that is one readable line naming the file, row or option, no traceback, and
leaves the results database as it was. New commands add their cases to CASES.

Each case runs through the console entry point (`mer_bench.cli.main`) in this process, against a
database of fixture runs (no training). Placeholders in the arguments: {store} the database,
{tmp} a scratch folder, {finished} a finished run, {partial} an interrupted run (5 of 68 folds),
{empty} a run with no fold, {gray} a flows folder with one grayscale PNG, and the files below.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from _cli import cli
from _dataset_trees import casme2_tree
from conftest import write_flow_folder
from leaderboard_fixtures import add_fixture_run, fill_store

from mer_bench.results.store import RunRecord, Store


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]
    code: int
    words: str  # what the last line must say (the option, file or row it names)


CASES = [
    # run: option values (usage errors, exit 2) before any data is touched
    Case(
        "device tpu",
        ("run", "--model", "ststnet", "--device", "tpu"),
        2,
        "--device must be auto, cpu or cuda",
    ),
    Case(
        "epochs -1",
        ("run", "--model", "ststnet", "--epochs", "-1"),
        2,
        "--epochs must be at least 1, got -1",
    ),
    Case(
        "epochs 0",
        ("run", "--model", "ststnet", "--epochs", "0"),
        2,
        "--epochs must be at least 1, got 0",
    ),
    Case(
        "epochs 0 best-on-test",
        ("run", "--model", "ststnet", "--epochs", "0", "--selection", "best-on-test"),
        2,
        "--epochs must be at least 1",
    ),
    Case(
        "batch size 0",
        ("run", "--model", "ststnet", "--batch-size", "0"),
        2,
        "--batch-size must be at least 1, got 0",
    ),
    Case("lr -1", ("run", "--model", "ststnet", "--lr", "-1"), 2, "--lr must be positive, got -1"),
    Case("lr 0", ("run", "--model", "ststnet", "--lr", "0"), 2, "--lr must be positive, got 0"),
    Case(
        "flow method",
        ("run", "--model", "ststnet", "--flow", "opticalx"),
        2,
        "--flow must be one of tvl1, farneback, dis, got 'opticalx'",
    ),
    Case(
        "workers 0",
        ("run", "--model", "ststnet", "--workers", "0"),
        2,
        "--workers must be at least 1, got 0",
    ),
    Case(
        "workers -3",
        ("run", "--model", "ststnet", "--workers", "-3"),
        2,
        "--workers must be at least 1, got -3",
    ),
    Case(
        "not an integer",
        ("run", "--model", "ststnet", "--epochs", "x"),
        2,
        "Invalid value for '--epochs'",
    ),
    Case("unknown option", ("run", "--modl", "ststnet"), 2, "No such option: --modl"),
    Case("no model", ("run",), 2, "run needs --model NAME"),
    Case(
        "data root for the demo",
        ("run", "--model", "ststnet", "--data-root", "{tmp}"),
        2,
        "--data-root does not apply to --source demo",
    ),
    Case(
        "json into a missing folder",
        ("run", "--model", "ststnet", "--json", "{tmp}/nope/s.json"),
        2,
        "--json {tmp}/nope/s.json: no such folder",
    ),
    Case(
        "option of another executor",
        ("run", "--model", "ststnet", "--option", "executor.chunk=2"),
        2,
        "(executor 'local') takes no option 'chunk'",
    ),
    Case(
        "option without a scope",
        ("run", "--model", "ststnet", "--option", "workers=2"),
        2,
        "--option expects SCOPE.NAME=VALUE",
    ),
    Case(
        "option of the wrong type",
        (
            "run",
            "--model",
            "ststnet",
            "--selection",
            "nested",
            "--option",
            "selection.inner_folds=x",
        ),
        2,
        "option inner_folds='x': expected an integer",
    ),
    Case(
        "option workers 0",
        ("run", "--model", "ststnet", "--option", "executor.workers=0"),
        2,
        "--workers must be at least 1, got 0",
    ),
    # run: unknown names (exit 2 with the closest names)
    Case(
        "unknown model", ("run", "--model", "htnte"), 2, "unknown model 'htnte'; did you mean htnet"
    ),
    Case(
        "unknown protocol",
        ("run", "--model", "ststnet", "--protocol", "megc2091"),
        2,
        "unknown protocol 'megc2091'; did you mean megc2019",
    ),
    Case(
        "unknown source",
        ("run", "--model", "ststnet", "--source", "dmo"),
        2,
        "unknown source 'dmo'; did you mean demo",
    ),
    Case(
        "unknown policy",
        ("run", "--model", "ststnet", "--selection", "bets"),
        2,
        "unknown selection policy 'bets'",
    ),
    Case(
        "unknown executor",
        ("run", "--model", "ststnet", "--executor", "seqential"),
        2,
        "unknown executor 'seqential'; did you mean sequential",
    ),
    # run: data (exit 3, naming the file)
    Case(
        "flows without a folder",
        ("run", "--model", "ststnet", "--source", "flows"),
        3,
        "needs --data-root",
    ),
    Case(
        "flows folder missing",
        ("run", "--model", "ststnet", "--source", "flows", "--data-root", "{tmp}/none"),
        3,
        "{tmp}/none: no such folder of flow PNGs",
    ),
    Case(
        "unparseable AU string",
        (
            "run",
            "--model",
            "constant",
            "--protocol",
            "casme2-au",
            "--source",
            "raw",
            "--data-root",
            "{tmp}/au_bad",
            "--device",
            "cpu",
        ),
        3,
        "row 3: AU string '4/9' cannot be parsed (an alternative ('/' or 'or') does not say which AU was seen)",
    ),
    Case(
        "AU protocol without AU annotations",
        (
            "run",
            "--model",
            "constant",
            "--protocol",
            "casme2-au",
            "--source",
            "raw",
            "--data-root",
            "{tmp}/au_none",
            "--device",
            "cpu",
        ),
        2,
        "protocol 'casme2-au' is an AU task but dataset 'casme2' has no AU annotations",
    ),
    Case(
        "best-on-test on an AU task",
        (
            "run",
            "--model",
            "constant",
            "--protocol",
            "casme2-au",
            "--selection",
            "best-on-test",
            "--device",
            "cpu",
        ),
        2,
        "--selection/--paired best-on-test chooses by test-set accuracy, which AU task 'casme2-au' does not have",
    ),
    Case(
        "apex jitter below 0",
        ("run", "--model", "ststnet", "--apex-jitter", "-1"),
        2,
        "Invalid value for '--apex-jitter'",
    ),
    Case(
        "robustness on flow images",
        ("robustness", "--model", "ststnet", "--source", "flows"),
        2,
        "--source flows holds precomputed flow images: no apex to move",
    ),
    Case(
        "robustness max jitter below 0",
        ("robustness", "--model", "ststnet", "--max-jitter", "-2"),
        2,
        "--max-jitter must be at least 0, got -2",
    ),
    Case(
        "grayscale flow PNG",
        (
            "run",
            "--model",
            "ststnet",
            "--source",
            "flows",
            "--data-root",
            "{gray}",
            "--device",
            "cpu",
        ),
        3,
        "a grayscale image, not a 3-channel flow image",
    ),
    # run --resume
    Case(
        "resume with another option",
        ("run", "--resume", "{partial}", "--epochs", "5"),
        2,
        "--epochs 5 differs from run {partial}, made with --epochs 20",
    ),
    Case(
        "resume with another source",
        ("run", "--resume", "{partial}", "--source", "demo"),
        2,
        "--source demo differs from run {partial}, made with --source flows",
    ),
    Case("resume an unknown run", ("run", "--resume", "nosuchrun"), 1, "no run 'nosuchrun'"),
    Case(
        "resume a finished run",
        ("run", "--resume", "{finished}"),
        0,
        "{finished} is already finished (68/68 folds): nothing to resume, nothing changed",
    ),
    # score
    Case(
        "score an empty file",
        ("score", "{tmp}/empty.csv"),
        3,
        "{tmp}/empty.csv: cannot read predictions CSV",
    ),
    Case(
        "score a missing file",
        ("score", "{tmp}/absent.csv"),
        3,
        "{tmp}/absent.csv: no such predictions file",
    ),
    Case(
        "score a bad row",
        ("score", "{tmp}/bad_row.csv"),
        3,
        "{tmp}/bad_row.csv, row 3: prediction 'maybe' is not a class",
    ),
    Case(
        "score json into a missing folder",
        ("score", "{tmp}/bad_row.csv", "--json", "{tmp}/nope/x.json"),
        2,
        "--json {tmp}/nope/x.json: no such folder",
    ),
    Case(
        "score unknown protocol",
        ("score", "{tmp}/empty.csv", "--protocol", "megc2091"),
        2,
        "did you mean megc2019",
    ),
    Case(
        "score unknown device",
        ("score", "{tmp}/bad_row.csv", "--device", "tpu"),
        2,
        "--device must be auto, cpu or cuda",
    ),
    # export
    Case(
        "export into a missing folder",
        ("export", "{finished}", "-o", "{tmp}/nope/x.json"),
        2,
        "-o {tmp}/nope/x.json: no such folder",
    ),
    Case(
        "export onto a folder", ("export", "{finished}", "-o", "{tmp}"), 2, "-o {tmp}: is a folder"
    ),
    Case(
        "export an unknown run",
        ("export", "nosuchrun", "-o", "{tmp}/x.json"),
        1,
        "no run 'nosuchrun'",
    ),
    Case(
        "export format",
        ("export", "{finished}", "--format", "docx"),
        2,
        "unknown export format 'docx'",
    ),
    Case(
        "export a stored id that walks a path",
        ("export", "../escaped"),
        3,
        "stored run id '../escaped' is not a valid run id",
    ),
    # import
    Case(
        "import a path-walking run id",
        ("import", "{tmp}/escaped.json"),
        3,
        "run.run_id '../escaped' is not a valid run id",
    ),
    Case(
        "import the same predictions again",
        ("import", "{tmp}/copy.json"),
        1,
        "has the same predictions as run {finished}",
    ),
    Case(
        "import a 0-epoch best-on-test run",
        ("import", "{tmp}/zero_epochs.json"),
        3,
        "cannot be scored: best-on-test with 0 epochs",
    ),
    Case(
        "import a missing file",
        ("import", "{tmp}/absent.json"),
        3,
        "{tmp}/absent.json: cannot read submission",
    ),
    # import: hostile JSON (issue 22) ends in one line naming the field, exit code 3
    Case(
        "import a NaN literal",
        ("import", "{tmp}/nan.json"),
        3,
        "NaN is not a number a submission may hold",
    ),
    Case(
        "import an Infinity timing",
        ("import", "{tmp}/infinity.json"),
        3,
        "Infinity is not a number a submission may hold",
    ),
    Case(
        "import a number beyond a float",
        ("import", "{tmp}/big_float.json"),
        3,
        "number 1e400 is too large for a float",
    ),
    Case(
        "import a seed beyond 64 bits",
        ("import", "{tmp}/big_int.json"),
        3,
        "run.seed: Input should be less than or equal to 9223372036854775807",
    ),
    Case(
        "import an integer of 5000 digits",
        ("import", "{tmp}/digits.json"),
        3,
        "not valid JSON for a submission",
    ),
    Case(
        "import a lone surrogate",
        ("import", "{tmp}/surrogate.json"),
        3,
        "run.model: text with a lone surrogate",
    ),
    Case(
        "import deeply nested JSON",
        ("import", "{tmp}/nested.json"),
        3,
        "JSON nested more than 64 levels deep",
    ),
    Case(
        "import a prediction as a string",
        ("import", "{tmp}/pred_string.json"),
        3,
        "predictions[3].pred: Input should be a valid integer",
    ),
    Case(
        "import a label as a boolean",
        ("import", "{tmp}/label_bool.json"),
        3,
        "predictions[3].label: Input should be a valid integer",
    ),
    Case(
        "import folds as an object",
        ("import", "{tmp}/folds_object.json"),
        3,
        "section 'folds' is missing or not a JSON array",
    ),
    Case(
        "import an unknown prediction field",
        ("import", "{tmp}/extra_field.json"),
        3,
        "predictions[0].score: Extra inputs are not permitted",
    ),
    Case(
        "import a file that is not JSON",
        ("import", "{tmp}/empty.csv"),
        3,
        "{tmp}/empty.csv: not valid JSON",
    ),
    # show, results
    Case(
        "show a run with no finished fold",
        ("show", "{empty}"),
        0,
        "run {empty} has no finished fold yet: nothing to score",
    ),
    Case("show an unknown run", ("show", "nosuchrun"), 1, "no run 'nosuchrun'"),
    Case(
        "results of a missing database",
        ("results", "--store", "{tmp}/none.sqlite"),
        1,
        "no results database at {tmp}/none.sqlite",
    ),
    # the cache folder (--cache-dir): a file, or below one (exit 2, before any data is made)
    Case(
        "run with a cache folder that is a file",
        ("run", "--model", "ststnet", "--cache-dir", "{tmp}/empty.csv"),
        2,
        "cache folder {tmp}/empty.csv: is a file, not a folder",
    ),
    Case(
        "run with a cache folder below a file",
        ("run", "--model", "ststnet", "--cache-dir", "{tmp}/empty.csv/cache"),
        2,
        "cache folder {tmp}/empty.csv: is a file, not a folder",
    ),
    Case(
        "prepare with a cache folder that is a file",
        ("prepare", "--source", "demo", "--cache-dir", "{tmp}/empty.csv"),
        2,
        "cache folder {tmp}/empty.csv: is a file, not a folder",
    ),
    # synth
    Case(
        "synth onto a file",
        ("synth", "--out", "{tmp}/empty.csv", "-q"),
        2,
        "--out {tmp}/empty.csv: is a file, not a folder",
    ),
    Case(
        "synth into a non-empty folder",
        ("synth", "--out", "{tmp}/full", "-q"),
        2,
        "--out {tmp}/full: the folder is not empty",
    ),
    Case(
        "synth with no clips",
        ("synth", "--out", "{tmp}/new", "--clips-per-subject", "0", "-q"),
        2,
        "--clips-per-subject must be at least 1, got 0",
    ),
    Case(
        "synth with too few subjects",
        ("synth", "--out", "{tmp}/new", "--subjects", "2", "-q"),
        2,
        "--subjects must be at least 3",
    ),
    Case(
        "synth difficulty",
        ("synth", "--out", "{tmp}/new", "--difficulty", "extreme", "-q"),
        2,
        "--difficulty must be one of",
    ),
    # doctor
    Case(
        "doctor with a missing data root",
        ("doctor", "--data-root", "{tmp}/none"),
        2,
        "--data-root {tmp}/none: no such folder",
    ),
    Case(
        "doctor with an unknown protocol",
        ("doctor", "--protocol", "megc2091"),
        2,
        "did you mean megc2019",
    ),
    Case(
        "doctor with an unknown dataset flag",
        ("doctor", "--casme22", "{tmp}"),
        2,
        "unknown dataset 'casme22'; did you mean casme2",
    ),
    Case(
        "doctor with an unresolvable protocol",
        ("doctor", "--data-root", "{tmp}/full", "--protocol", "casme2", "--no-images"),
        1,
        "not ok: requested protocol casme2 is not resolvable",
    ),
    # table
    Case(
        "table of an unknown protocol",
        ("table", "--protocol", "megc2091"),
        2,
        "did you mean megc2019",
    ),
    Case(
        "table format",
        ("table", "--protocol", "megc2019", "--format", "docx"),
        2,
        "unknown table format 'docx'",
    ),
    Case(
        "table of a source without runs",
        ("table", "--protocol", "megc2019", "--source", "raw"),
        2,
        "--source raw: no complete runs",
    ),
    Case(
        "table into a missing folder",
        ("table", "--protocol", "megc2019", "-o", "{tmp}/nope/t.md"),
        2,
        "-o {tmp}/nope/t.md: no such folder",
    ),
    # reference (the shipped runs are hidden in tests: no set is installed for any protocol)
    Case(
        "reference without a set",
        ("reference", "--protocol", "casme2"),
        2,
        "no reference set of casme2 on flows is installed",
    ),
    Case(
        "reference into a missing readme",
        ("reference", "--readme", "{tmp}/none.md"),
        3,
        "--readme {tmp}/none.md: cannot read it (No such file or directory)",
    ),
    Case(
        "reference into a readme without markers",
        ("reference", "--readme", "{tmp}/empty.csv"),
        3,
        "--readme {tmp}/empty.csv: needs one <!-- reference-results:start --> line",
    ),
    # list, check, leaderboard
    Case(
        "list an unknown kind",
        ("list", "modles"),
        2,
        "unknown list kind 'modles'; did you mean models",
    ),
    Case("check an unknown model", ("check", "htnte"), 2, "unknown model 'htnte'"),
    Case(
        "leaderboard of a missing database",
        ("leaderboard", "--store", "{tmp}/none.sqlite"),
        1,
        "no results database at {tmp}/none.sqlite",
    ),
    Case(
        "leaderboard on port 70000",
        ("leaderboard", "--port", "70000"),
        2,
        "--port must be between 1 and 65535, got 70000",
    ),
    # outputs and stores the system refuses (a full disk, a file in the way, a name too long)
    Case(
        "export to a full disk",
        ("export", "{finished}", "-o", "/dev/full"),
        1,
        "-o /dev/full: cannot write it (No space left on device); nothing was written there",
    ),
    Case(
        "table to a full disk",
        ("table", "--protocol", "megc2019", "-o", "/dev/full"),
        1,
        "-o /dev/full: cannot write it (No space left on device)",
    ),
    Case(
        "export csv to a full disk",
        ("export", "{finished}", "--format", "csv", "-o", "/dev/full"),
        1,
        "-o /dev/full: cannot write it (No space left on device)",
    ),
    Case(
        "store under a file",
        ("run", "--model", "ststnet", "--store", "{tmp}/empty.csv/new.sqlite"),
        1,
        "{tmp}/empty.csv/new.sqlite: {tmp}/empty.csv is a file, not a folder",
    ),
    Case(
        "store name too long",
        ("results", "--store", "{tmp}/" + "a" * 300 + ".sqlite"),
        1,
        "a name in the path is 307 bytes long, over the system's 255",
    ),
    Case(
        "export to a name too long",
        ("export", "{finished}", "-o", "{tmp}/" + "c" * 300 + ".json"),
        1,
        "c.json: File name too long",
    ),
    Case(
        "new store name too long",
        ("run", "--model", "ststnet", "--store", "{tmp}/" + "b" * 300 + ".sqlite"),
        1,
        "a name in the path is 307 bytes long, over the system's 255",
    ),
]
#: Commands that take --store: the drill's database is given to them.
STORE_COMMANDS = ("run", "results", "show", "export", "import", "table")


def database_state(path: Path) -> str:
    """A digest of every row of the database (what a command could have changed)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def drill(tmp_path_factory, megc_manifest):
    tmp = tmp_path_factory.mktemp("drill")
    store_path = tmp / "results.sqlite"
    ids = fill_store(store_path)
    store = Store(store_path)
    empty = add_fixture_run(
        store, megc_manifest, "empty-net", "fixed", 0, 0.5, 10, folds_stored=0, status="interrupted"
    )
    finished = ids[("good-net", "fixed", 0)]
    record = store.run(finished)
    from mer_bench.results.export import export_json

    submission = export_json(store, record)
    # an old or hand-written database row whose id walks a path (create_run refuses it)
    bad = RunRecord(
        **{
            **record.as_dict(),
            "run_id": "../escaped",
            "classes": record.classes,
            "content_hash": None,
        }
    )
    with store.transaction() as conn:
        from sqlalchemy import insert

        from mer_bench.results.store import schema

        conn.execute(insert(schema.runs).values(**bad.to_row()))
    store.close()
    (tmp / "empty.csv").write_text("")
    (tmp / "bad_row.csv").write_text(
        "dataset,subject,sample,pred\nsmic,s1,s1_ne_01,0\nsmic,s1,s1_ne_02,maybe\n"
    )
    (tmp / "full").mkdir()
    (tmp / "full" / "CASME2").mkdir()
    (tmp / "full" / "CASME2" / "old.txt").write_text("an old tree")
    (tmp / "escaped.json").write_text(
        json.dumps({**submission, "run": {**submission["run"], "run_id": "../escaped"}})
    )
    (tmp / "copy.json").write_text(
        json.dumps({**submission, "run": {**submission["run"], "run_id": "copy-of-a-run"}})
    )
    zero = json.loads(json.dumps(submission))
    from mer_bench.core.identity import RunIdentity

    identity = RunIdentity.from_dict(zero["run"]["identity"])
    identity = RunIdentity(
        **{
            **identity.__dict__,
            "selection": "best-on-test",
            "recipe": {**identity.recipe, "epochs": 0},
        }
    )
    zero["run"].update(
        run_id="zero-epochs",
        selection="best-on-test",
        identity=identity.as_dict(),
        config_hash=identity.config_hash,
        group_hash=identity.group_hash,
    )
    zero["recipe"]["epochs"] = 0
    (tmp / "zero_epochs.json").write_text(json.dumps(zero))
    _hostile_files(tmp, submission)
    for folder, aus in (("au_bad", ("12", "4/9")), ("au_none", ("", ""))):
        casme2_tree(
            tmp / folder / "CASME2",
            [
                {
                    "subject": k,
                    "sample": f"EP0{k}_1",
                    "onset": 10,
                    "apex": 12,
                    "offset": 14,
                    "emotion": "happiness",
                    "au": au,
                }
                for k, au in enumerate(aus, 1)
            ],
            touch=True,
        )
    gray = write_flow_folder(tmp / "gray", megc_manifest)
    first = sorted(gray.glob("*.png"))[0]
    cv2.imwrite(str(first), np.zeros((28, 28), np.uint8))
    return {
        "store": store_path,
        "tmp": tmp,
        "finished": finished,
        "empty": empty,
        "partial": ids[("stopped-net", "fixed", 0)],
        "gray": gray,
        "gray_file": first,
    }


def _hostile_files(tmp: Path, submission: dict) -> None:
    """Submission files a JSON parser or a database accepts and a submission must not."""

    def edited(change) -> dict:
        data = json.loads(json.dumps(submission))
        change(data)
        return data

    def write(name: str, data: dict, *replace: tuple[str, str]) -> None:
        text = json.dumps(data)
        for old, new in replace:
            text = text.replace(old, new, 1)
        (tmp / name).write_text(text)

    write("nan.json", edited(lambda d: d["folds"][0].update(seconds=float("nan"))))
    write("infinity.json", edited(lambda d: d["run"].update(wall_seconds=float("inf"))))
    write(
        "big_float.json", edited(lambda d: d["folds"][0].update(seconds="BIG")), ('"BIG"', "1e400")
    )
    write("big_int.json", edited(lambda d: d["run"].update(seed=10**30)))
    write(
        "digits.json",
        edited(lambda d: d["predictions"][0].update(label="DIGITS")),
        ('"DIGITS"', "9" * 5000),
    )
    write("surrogate.json", edited(lambda d: d["run"].update(model="\ud800")))
    (tmp / "nested.json").write_text(
        '{"format": "mer-bench-submission", "version": 2, "run": '
        + "[" * 99_999
        + "]" * 99_999
        + "}"
    )
    write("pred_string.json", edited(lambda d: d["predictions"][3].update(pred="1")))
    write("label_bool.json", edited(lambda d: d["predictions"][3].update(label=True)))
    write("folds_object.json", edited(lambda d: d.update(folds={})))
    write("extra_field.json", edited(lambda d: d["predictions"][0].update(score=0.99)))


def _fill(text: str, drill: dict) -> str:
    for key in ("store", "tmp", "finished", "partial", "empty", "gray"):
        text = text.replace("{" + key + "}", str(drill[key]))
    return text


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gets_one_line_and_its_exit_code(
    case, drill, capsys, no_dataset_env, monkeypatch
):
    monkeypatch.chdir(drill["tmp"])  # export's default file lands here, never above it
    argv = [_fill(a, drill) for a in case.argv]
    if argv[0] in STORE_COMMANDS and "--store" not in argv:
        argv += ["--store", str(drill["store"])]
    before = database_state(drill["store"])
    code, out, err = cli(argv, capsys)
    lines = err.strip().splitlines()
    assert "Traceback" not in err and "Traceback" not in out
    assert code == case.code, err
    last = lines[-1] if lines else ""
    if case.code:
        assert last.startswith(("error:", "Error:")), err
        assert len(last) < 400
    else:  # a command that succeeds says so, on stderr or with its output
        said = lines + out.splitlines()
        last = next((line for line in said if _fill(case.words, drill) in line), last)
    assert _fill(case.words, drill) in last, err
    if case.name == "grayscale flow PNG":
        assert str(drill["gray_file"]) in last  # the file, by name
    assert database_state(drill["store"]) == before
    assert not (drill["tmp"].parent / "escaped.json").exists()


def test_no_cuda_is_one_line(drill, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    code, _, err = cli(
        ["run", "--model", "ststnet", "--device", "cuda", "--store", str(drill["store"])], capsys
    )
    assert code == 1 and err.count("\n") == 1
    assert "--device cuda: no CUDA device is available here" in err


@pytest.mark.parametrize(
    "command", [("run", "--model", "ststnet"), ("prepare", "--source", "demo")]
)
def test_an_unwritable_cache_folder_is_one_line(command, drill, tmp_path, capsys):
    """A cache folder nobody may write in (root too: immutable, else read-only) is named in
    one line, exit 2, before anything is generated; nothing is left in it."""
    folder = tmp_path / "cache"
    folder.mkdir()
    if os.geteuid() == 0:
        if (
            shutil.which("chattr") is None
            or subprocess.run(["chattr", "+i", str(folder)], check=False).returncode
        ):
            pytest.skip("cannot make a folder unwritable for root here (chattr +i)")
    else:
        folder.chmod(0o555)
    try:
        argv = [*command, "--cache-dir", str(folder)]
        if command[0] == "run":
            argv += ["--store", str(drill["store"])]
        code, out, err = cli(argv, capsys)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        else:
            folder.chmod(0o755)
    assert "Traceback" not in err + out and code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cache folder "), err
    assert f"{folder}: cannot write in it" in lines[0] and "--cache-dir" in lines[0]
    assert list(folder.iterdir()) == []


def test_synth_force_replaces_the_trees_it_writes(tmp_path, capsys):
    out = tmp_path / "demo"
    (out / "SAMM").mkdir(parents=True)
    (out / "SAMM" / "stale.jpg").write_text("old")
    (out / "notes.txt").write_text("mine")
    code, _, err = cli(
        [
            "synth",
            "--out",
            str(out),
            "--subjects",
            "3",
            "--clips-per-subject",
            "1",
            "--force",
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    assert not (out / "SAMM" / "stale.jpg").exists() and (out / "notes.txt").read_text() == "mine"
    assert {p.name for p in out.iterdir()} == {"CASME2", "SAMM", "SMIC", "notes.txt"}


def test_a_read_only_database_is_read(drill, tmp_path, capsys):
    """A database in a folder nobody may write (here: immutable, so that root is refused too) is
    read by results, show and export, not called "not a mer-bench results database"."""
    folder = tmp_path / "ro"
    folder.mkdir()
    shutil.copy(drill["store"], folder / "results.sqlite")
    if (
        shutil.which("chattr") is None
        or __import__("subprocess").run(["chattr", "+i", str(folder)]).returncode
    ):
        pytest.skip("cannot make a folder read-only here (chattr +i)")
    try:
        store = str(folder / "results.sqlite")
        code, out, err = cli(["results", "--store", store, "--json"], capsys)
        assert code == 0, err
        assert drill["finished"] in {r["run_id"] for r in json.loads(out)}
        code, out, err = cli(["show", drill["finished"], "--store", store], capsys)
        assert code == 0 and "confusion" in out, err
        code, _, err = cli(
            ["export", drill["finished"], "--store", store, "-o", str(tmp_path / "x.json")], capsys
        )
        assert code == 0 and (tmp_path / "x.json").stat().st_size > 1000, err
    finally:
        __import__("subprocess").run(["chattr", "-i", str(folder)])


def test_epochs_of_an_estimator_are_not_used_nor_stored(caplog):
    """svm-hoof is fitted once per fold: --epochs does not apply; a sweep over every model with
    --epochs still runs it, and its stored recipe keeps the card's (no epochs it did not have)."""
    from mer_bench.core import registry
    from mer_bench.run.engine import RunConfig

    spec = registry.get_model("svm-hoof")
    with caplog.at_level("WARNING", logger="mer_bench.run.engine"):
        recipe = RunConfig(model="svm-hoof", protocol="megc2019", epochs=5, lr=0.1).recipe(spec)
    assert recipe == spec.card.recipe and recipe.epochs == 0
    assert "--epochs, --lr: not used by model 'svm-hoof'" in caplog.text


# Long videos (spotting): annotation rows and frames of a CAS(ME)^2 tree built by the test.
LONG_CASES = [
    Case(
        "long video: reversed interval",
        ("spot", "doctor", "-d", "casme2-lv", "--root", "{reversed}"),
        3,
        "row 1: 15_0101: reversed interval: offset 2 before onset",
    ),
    Case(
        "long video: interval past the end",
        ("spot", "doctor", "-d", "casme2-lv", "--root", "{past_end}"),
        3,
        "row 2: 15_0101: interval",
    ),
    Case(
        "long video: overlapping intervals",
        ("spot", "doctor", "-d", "casme2-lv", "--root", "{overlap}"),
        3,
        "overlaps",
    ),
    Case(
        "long video: unreadable frame",
        ("spot", "doctor", "-d", "casme2-lv", "--root", "{bad_frame}"),
        3,
        "img360.jpg: 16_0101: frame 360 cannot be decoded",
    ),
    Case(
        "long video: unknown dataset",
        ("spot", "doctor", "-d", "casme2-l", "--root", "{tmp}"),
        2,
        "unknown long-video dataset 'casme2-l'; did you mean casme2-lv",
    ),
    Case(
        "long video: missing root",
        ("spot", "doctor", "-d", "casme2-lv", "--root", "{tmp}/none"),
        2,
        "--root {tmp}/none: no such folder",
    ),
    Case(
        "long video: no workbook",
        ("spot", "doctor", "-d", "casme2-lv", "--root", "{tmp}"),
        3,
        "no CAS(ME)^2 workbook",
    ),
    Case(
        "spotting submission outside a video",
        ("spot", "score", "{outside}", "--source", "raw", "--casme2-lv", "{good}"),
        3,
        "outside.csv, row 3: interval [300, 400] outside video 15_0101 (frames 1..360)",
    ),
    Case(
        "spotting submission reversed",
        ("spot", "score", "{reversed_sub}", "--source", "raw", "--casme2-lv", "{good}"),
        3,
        "reversed.csv, row 2: offset 30 before onset 40",
    ),
    Case(
        "spotting submission missing",
        ("spot", "score", "{tmp}/none.csv", "--source", "raw", "--casme2-lv", "{good}"),
        3,
        "none.csv: no such submission file",
    ),
    Case(
        "spot run unknown spotter",
        ("spot", "run", "--spotter", "flow-pek"),
        2,
        "unknown spotter 'flow-pek'; did you mean flow-peak",
    ),
    Case(
        "spot run unknown protocol",
        ("spot", "run", "--spotter", "flow-peak", "-p", "casme2-spotting"),
        2,
        "unknown spotting protocol 'casme2-spotting'; did you mean casme2-lv-spotting",
    ),
    Case(
        "spot run raw without a folder",
        ("spot", "run", "--spotter", "flow-peak", "--source", "raw"),
        2,
        "--source raw needs --casme2-lv DIR",
    ),
    Case(
        "spot run demo with a folder",
        ("spot", "run", "--spotter", "flow-peak", "--casme2-lv", "{good}"),
        2,
        "do not apply to --source demo",
    ),
]


@pytest.fixture(scope="module")
def long_trees(tmp_path_factory):
    from _long_videos import SMALL, copy_tree, edit_cell, small_trees

    from mer_bench.data.longvideo.synth import LongSynthConfig, plan

    tmp = tmp_path_factory.mktemp("long_drill")
    config = LongSynthConfig(**{**SMALL.__dict__, "datasets": ("casme2-lv",)})
    good = small_trees(tmp / "good", config)["casme2-lv"]
    book = "CAS(ME)^2code_final.xlsx"
    trees = {"tmp": tmp / "empty", "good": good}
    trees["tmp"].mkdir()
    trees["outside"] = tmp / "outside.csv"
    trees["outside"].write_text(
        "vid,pred_onset,pred_offset,type\n15_0101,10,20,me\n15_0101,300,400,me\n"
    )
    trees["reversed_sub"] = tmp / "reversed.csv"
    trees["reversed_sub"].write_text("vid,pred_onset,pred_offset,type\n15_0101,40,30,me\n")
    for name, cells in (("reversed", [(1, 5, 2)]), ("past_end", [(2, 5, 999)])):
        trees[name] = copy_tree(good, tmp / name)
        for row, column, value in cells:
            edit_cell(trees[name] / book, "CASFEcode_final", row, column, value)
    first = plan(config)[0]
    micro = [e for e in first.expressions if e.kind == "micro"]
    row = 1 + first.expressions.index(micro[1])
    trees["overlap"] = copy_tree(good, tmp / "overlap")
    for column, value in (
        (3, micro[0].onset + 1),
        (4, micro[0].onset + 2),
        (5, micro[0].offset + 3),
    ):
        edit_cell(trees["overlap"] / book, "CASFEcode_final", row, column, value)
    trees["bad_frame"] = copy_tree(good, tmp / "bad_frame")
    (trees["bad_frame"] / "rawpic" / "s16" / "16_0101disgustingteeth" / "img360.jpg").write_bytes(
        b"?"
    )
    return trees


@pytest.mark.parametrize("case", LONG_CASES, ids=[c.name for c in LONG_CASES])
def test_long_video_bad_input_gets_one_line_and_exit_3(case, long_trees, capsys):
    argv = list(case.argv)
    for key, value in long_trees.items():
        argv = [a.replace("{" + key + "}", str(value)) for a in argv]
    code, _, err = cli(argv, capsys)
    assert "Traceback" not in err and code == case.code, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error:") and len(last) < 400
    words = case.words.replace("{tmp}", str(long_trees["tmp"]))
    assert words in last, err
    if case.code == 3 and "{tmp}" not in case.argv[-1] and case.argv[1] == "doctor":
        assert str(long_trees["tmp"].parent) in last  # the file, by its path
