"""`mer-bench import`: strict validation of submission files, recomputed scores, nothing written
on rejection, and the export -> import round trip."""

from __future__ import annotations

import copy
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from leaderboard_fixtures import add_fixture_run

from mer_bench.results import submission
from mer_bench.run.engine import RunConfig, run_benchmark
from mer_bench.core.errors import DataError, MerBenchError
from mer_bench.results.export import export_json
from mer_bench.data.sources import source_options
from mer_bench.results.store import Store
from mer_bench.results.submission import import_submission
from mer_bench.results.summary import summarize_run


@pytest.fixture(scope="module")
def exported(tmp_path_factory, megc_manifest) -> dict:
    """The submission JSON of one fixture run (442 samples, 68 folds)."""
    store = Store(tmp_path_factory.mktemp("src") / "src.sqlite")
    run_id = add_fixture_run(store, megc_manifest, "good-net", "fixed", 0, 0.8, 5000)
    data = json.loads(json.dumps(export_json(store, store.run(run_id))))
    store.close()
    return data


def _counts(path: Path) -> tuple[int, int, int]:
    if not path.exists():
        return (0, 0, 0)
    conn = sqlite3.connect(path)
    try:
        return tuple(
            conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("runs", "folds", "predictions")
        )
    finally:
        conn.close()


def _write(tmp_path: Path, data: dict | str, name: str = "sub.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _rejected(tmp_path: Path, store_path: Path, content: dict | str, match: str) -> None:
    """Importing `content` fails with a message matching `match` and leaves the store as it was."""
    store = Store(store_path)
    before = _counts(store_path)
    with pytest.raises(MerBenchError, match=match):
        import_submission(_write(tmp_path, content), store)
    store.close()
    assert _counts(store_path) == before


def test_round_trip_gives_the_same_scores(tmp_path, exported, megc_manifest):
    src = Store(tmp_path / "a.sqlite")
    run_id = add_fixture_run(src, megc_manifest, "weak-net", "best-on-test", 3, 0.55, 1200)
    original = summarize_run(src, run_id, device="cpu").as_dict()
    path = _write(tmp_path, export_json(src, src.run(run_id)))
    dst = Store(tmp_path / "b.sqlite")
    new_id, sub = import_submission(path, dst)
    assert new_id == run_id and sub.ignored == ()
    again = summarize_run(dst, new_id, device="cpu").as_dict()
    for key in ("uf1", "uar", "per_dataset", "confusion", "n_samples", "n_subjects", "seconds"):
        assert again[key] == original[key], key
    record = dst.run(new_id)
    assert record.status == "imported" and record.selection == "best-on-test" and record.seed == 3
    assert record.provenance["imported_from"] == "sub.json"
    assert dst.predictions(new_id)[["sample", "pred"]].equals(
        src.predictions(run_id)[["sample", "pred"]]
    )
    assert _counts(tmp_path / "b.sqlite") == (1, 68, 442)


def test_engine_run_round_trips(tmp_path, tiny_model, flows_dir):
    src = Store(tmp_path / "engine.sqlite")
    summary = run_benchmark(
        RunConfig(
            model=tiny_model,
            protocol="megc2019",
            source="flows",
            executor="sequential",
            source_options=source_options("flows", data_root=flows_dir),
            epochs=1,
            device="cpu",
            seed=1,
        ),
        src,
    )
    path = _write(tmp_path, json.loads(json.dumps(export_json(src, src.run(summary.run_id)))))
    dst = Store(tmp_path / "dst.sqlite")
    run_id, _ = import_submission(path, dst)
    again = summarize_run(dst, run_id, device="cpu")
    assert again.report.pooled.uf1 == summary.report.pooled.uf1
    assert again.report.pooled.confusion == summary.report.pooled.confusion


def test_stated_scores_are_ignored(tmp_path, exported, store_path):
    data = copy.deepcopy(exported)
    data["scores"] = {"uf1": 0.99, "uar": 0.99}
    data["run"]["uf1"] = 0.99
    store = Store(store_path)
    run_id, sub = import_submission(_write(tmp_path, data), store)
    assert sub.ignored == ("scores",)
    uf1 = summarize_run(store, run_id, device="cpu").report.pooled.uf1
    assert 0.7 < uf1 < 0.85


def test_importing_twice_is_refused(tmp_path, exported, store_path):
    store = Store(store_path)
    import_submission(_write(tmp_path, exported), store)
    store.close()
    _rejected(tmp_path, store_path, exported, "already in")


@pytest.mark.parametrize(
    "content, match",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "a submission is a JSON object"),
        (
            '{"format": "mer-bench-submission", "version": 1, "run": {}, "card": {}, "recipe": {}, '
            '"provenance": {}, "folds": [], "predictions": []',
            "truncated",
        ),
    ],
)
def test_malformed_files_are_rejected(tmp_path, store_path, content, match):
    _rejected(tmp_path, store_path, content, match)


def test_truncated_export_is_rejected(tmp_path, exported, store_path):
    text = json.dumps(exported)
    _rejected(tmp_path, store_path, text[: len(text) // 2], "truncated")


def test_oversized_file_is_rejected_before_reading(tmp_path, store_path):
    path = tmp_path / "big.json"
    with path.open("wb") as fh:  # sparse file just over the limit
        fh.seek(submission.MAX_BYTES)
        fh.write(b" ")
    store = Store(store_path)
    with pytest.raises(DataError, match="over the 20 MB limit"):
        import_submission(path, store)
    assert _counts(store_path) == (0, 0, 0)


def _edit(exported: dict, change) -> dict:
    data = copy.deepcopy(exported)
    change(data)
    return data


CASES = {
    "format": (lambda d: d.update(format="other"), "format is 'other'"),
    "version": (lambda d: d.update(version=3), "version 3 is not supported"),
    "run id": (lambda d: d["run"].update(run_id="../escaped"), "not a valid run id"),
    "identity": (
        lambda d: d["run"]["identity"].update(seed=99),
        "does not match its identity|differs",
    ),
    "section": (lambda d: d.pop("predictions"), "section 'predictions' is missing"),
    "protocol": (lambda d: _retarget(d, protocol="megc2099"), "unknown protocol 'megc2099'"),
    "classes": (lambda d: d["run"].update(classes=["a", "b", "c"]), "classes .* differ"),
    "selection": (lambda d: _retarget(d, selection="best-ever"), "run.selection"),
    "card": (lambda d: d["card"].update(name="other-net"), "card name"),
    "duplicate": (
        lambda d: d["predictions"].__setitem__(1, dict(d["predictions"][0])),
        "appears twice",
    ),
    "missing": (
        lambda d: (
            d["predictions"].pop(),
            d["folds"][-1].update(n_test=d["folds"][-1]["n_test"] - 1),
        ),
        "have no prediction",
    ),
    "foreign sample": (
        lambda d: d["predictions"][0].update(sample="made_up_01"),
        "is not in protocol megc2019",
    ),
    "label": (
        lambda d: d["predictions"][0].update(label=(d["predictions"][0]["label"] + 1) % 3),
        "but protocol megc2019 says",
    ),
    "label range": (lambda d: d["predictions"][0].update(label=7), r"label 7 is not a class index"),
    "pred range": (lambda d: d["predictions"][0].update(pred=-1), r"pred -1 is not a class index"),
    "probs": (lambda d: d["predictions"][0].update(probs=[0.5, 0.5]), "probs must be 3 numbers"),
    "probs sum": (lambda d: d["predictions"][0].update(probs=[0.9, 0.9, 0.9]), "sum to"),
    "pred vs probs": (
        lambda d: d["predictions"][0].update(pred=(d["predictions"][0]["pred"] + 1) % 3),
        "not the most probable class",
    ),
    "fold count": (lambda d: d["run"].update(n_folds=70), "68 folds but run.n_folds is 70"),
    "fold size": (lambda d: d["folds"][0].update(n_test=99), "declares 99 test samples"),
    "two folds": (
        lambda d: d["predictions"][0].update(fold=d["predictions"][0]["fold"] + 1),
        "declares|held out in two folds",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_contents_are_rejected_and_nothing_is_written(tmp_path, exported, store_path, case):
    change, match = CASES[case]
    _rejected(tmp_path, store_path, _edit(exported, change), match)


def test_counts_are_bounded(tmp_path, exported, store_path, monkeypatch):
    monkeypatch.setattr(submission, "MAX_PREDICTIONS", 400)
    _rejected(tmp_path, store_path, exported, "442 predictions is over the limit of 400")
    monkeypatch.setattr(submission, "MAX_FOLDS", 10)
    _rejected(tmp_path, store_path, exported, "run.n_folds must be between 1 and 10")


def _retarget(data: dict, **fields) -> None:
    """Change run fields and the identity with them (hashes recomputed, as a writer would)."""
    from mer_bench.core.identity import RunIdentity

    data["run"].update(fields)
    identity = RunIdentity.from_dict({**data["run"]["identity"], **fields})
    data["run"].update(
        identity=identity.as_dict(),
        config_hash=identity.config_hash,
        group_hash=identity.group_hash,
    )


def test_synthetic_source_runs_are_checked_against_the_regenerated_demo(tmp_path, store_path):
    """A demo run's samples and labels are the demo's own (regenerated from its options), not
    whatever the file holds: a genuine export is imported, made-up samples are refused."""
    from leaderboard_fixtures import DEMO_DATA, demo_samples

    samples = demo_samples()
    src = Store(tmp_path / "demo.sqlite")
    run_id = add_fixture_run(
        src, samples, "demo-net", "fixed", 0, 0.9, 10, source="demo", data=DEMO_DATA
    )
    data = json.loads(json.dumps(export_json(src, src.run(run_id))))
    src.close()
    store = Store(store_path)
    imported, _ = import_submission(_write(tmp_path, data), store)
    assert len(store.predictions(imported)) == len(samples)
    store.close()
    forged = copy.deepcopy(data)
    forged["run"]["run_id"] = "other"
    for p in forged["predictions"]:
        p["sample"] = "synthetic_" + p["sample"]
    _rejected(tmp_path, store_path, forged, "is not in protocol megc2019 .the regenerated demo")


def test_cli_rejects_with_one_line_and_exit_code(tmp_path, store_path):
    bad = _write(tmp_path, "{oops")
    code = (
        "import sys; from mer_bench.cli import main; "
        f"sys.argv = ['mer-bench', 'import', {str(bad)!r}, '--store', {str(store_path)!r}]; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "not valid JSON" in lines[0]
