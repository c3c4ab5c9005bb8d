"""Reference results: shipped export files shown beside a user's runs, marked, never averaged with
them, never written into the user's database; planned runs without a file say "not computed yet"
with their command; the README table is generated from the files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from _cli import cli
from leaderboard_fixtures import fill_store

from mer_bench.results import ranking, reference
from mer_bench.results.export import export_json
from mer_bench.results.reference import PlannedRun, ReferenceSet
from mer_bench.results.store import Store
from mer_bench.results.submission import read_submission, validate_submission


@pytest.fixture(scope="module")
def shipped_folder(tmp_path_factory) -> tuple[Path, dict]:
    """Export files of a fixture database: good-net fixed seeds 0-1 and best-on-test seed 0."""
    root = tmp_path_factory.mktemp("shipped")
    ids = fill_store(root / "made-elsewhere.sqlite")
    folder = root / "set"
    folder.mkdir()
    with Store(root / "made-elsewhere.sqlite", read_only=True) as store:
        for key in (
            ("good-net", "fixed", 0),
            ("good-net", "fixed", 1),
            ("good-net", "best-on-test", 0),
        ):
            record = store.run(ids[key])
            path = folder / f"{key[0]}-{key[1]}-s{key[2]}.json"
            path.write_text(json.dumps(export_json(store, record)))
    return folder, ids


@pytest.fixture()
def shipped(shipped_folder, monkeypatch, tmp_path):
    """The fixture files as the only reference set (plan: good-net fixed 0-2 with best-on-test,
    weak-net fixed 0), with its own cache."""
    folder, ids = shipped_folder
    plan = (
        PlannedRun("good-net", "fixed", 0, ("best-on-test",)),
        PlannedRun("weak-net", "fixed", 0),
        PlannedRun("good-net", "fixed", 1, ("best-on-test",)),
        PlannedRun("good-net", "fixed", 2, ("best-on-test",)),
        PlannedRun("big-net", "fixed", 0, gpu=True),
    )
    test_set = ReferenceSet(
        name="test-set",
        protocol="megc2019",
        source="flows",
        package="",
        folder=str(folder),
        planned=plan,
        data_hint="CLONE",
        gpu_command="bash gpu.sh CLONE OUT",
    )
    monkeypatch.delenv(reference.SWITCH, raising=False)
    monkeypatch.setenv("MER_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(reference, "reference_sets", lambda protocol=None, source=None: [test_set])
    return test_set, ids


def _rows(text: str) -> pd.DataFrame:
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return pd.DataFrame(
        [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]], columns=header
    )


def test_table_shows_reference_runs_marked_beside_own_runs_never_averaged(
    shipped, tmp_path, capsys
):
    own = tmp_path / "own.sqlite"
    fill_store(own)  # the same configurations, computed again by the user
    before = own.stat().st_mtime_ns, own.stat().st_size
    code, out, err = cli(
        ["table", "--protocol", "megc2019", "--source", "flows", "--store", str(own)], capsys
    )
    assert code == 0, err
    rows = _rows(out)
    good = rows[
        (rows["model"] == "good-net") & (rows["selection"] == "fixed") & (rows["rank"] != "")
    ]
    # one row per database: the shipped seeds 0,1 and the user's seeds 0,1 are not pooled
    assert sorted(good["origin"]) == ["", "reference"]
    assert list(good["seeds"]) == ["0,1", "0,1"]
    # the shipped numbers are those recomputed from the shipped predictions
    runs, predictions = reference.load_reference("megc2019", "flows")
    table = ranking.ranking(runs, predictions)
    expected = table[(table["model"] == "good-net") & (table["selection"] == "fixed")].iloc[0]
    shown = good[good["origin"] == "reference"].iloc[0]
    assert shown["UF1"] == ranking.with_spread(expected["uf1_mean"], expected["uf1_sd"], 2)
    # planned but missing: the weak net, seed 2 of the good net, the GPU-only model
    missing = rows[rows["UF1"] == "not computed yet"]
    assert set(zip(missing["model"], missing["seeds"])) == {
        ("weak-net", "0"),
        ("good-net", "2"),
        ("big-net", "0"),
    }
    assert (
        "mer-bench run --model weak-net --selection fixed --seed 0 --protocol megc2019 "
        "--source flows --data-root CLONE"
    ) in out
    assert "bash gpu.sh CLONE OUT" in out
    # the user's database was only read
    assert (own.stat().st_mtime_ns, own.stat().st_size) == before
    code, out, _ = cli(
        [
            "table",
            "--protocol",
            "megc2019",
            "--source",
            "flows",
            "--store",
            str(own),
            "--no-reference",
        ],
        capsys,
    )
    assert code == 0 and "reference" not in _rows(out)["selection"].tolist()
    assert "not computed yet" not in out


def test_table_without_a_database_shows_the_shipped_runs_and_makes_no_file(
    shipped, tmp_path, capsys
):
    missing = tmp_path / "none" / "results.sqlite"
    (tmp_path / "none").mkdir()
    code, out, err = cli(["table", "--protocol", "megc2019", "--store", str(missing)], capsys)
    assert code == 0, err
    rows = _rows(out)
    assert set(rows.loc[rows["rank"] != "", "origin"]) == {"reference"}
    assert not missing.exists() and not list((tmp_path / "none").iterdir())


def test_reference_summary_leak_and_readme_block(shipped, tmp_path, capsys):
    runs, predictions = reference.load_reference("megc2019", "flows")
    by_key = {
        (m, s, int(seed)): r
        for r, m, s, seed in zip(runs["run_id"], runs["model"], runs["selection"], runs["seed"])
    }
    fixed0 = ranking.run_scores(predictions[by_key[("good-net", "fixed", 0)]], 3)["uf1"]
    test0 = ranking.run_scores(predictions[by_key[("good-net", "best-on-test", 0)]], 3)["uf1"]
    summary = reference.summary("megc2019", "flows").set_index("model")
    assert summary.loc["good-net", "leak (UF1)"] == f"{test0 - fixed0:+.3f}"
    assert summary.loc["good-net", "fixed UF1"].endswith("(2 seeds)")
    assert summary.loc["weak-net", "fixed UF1"] == "not computed yet"
    readme = tmp_path / "README.md"
    readme.write_text(
        "# x\n<!-- reference-results:start -->\nold\n<!-- reference-results:end -->\ntail\n"
    )
    code, _, err = cli(["reference", "--readme", str(readme)], capsys)
    assert code == 0, err
    text = readme.read_text()
    assert "old" not in text and text.endswith("<!-- reference-results:end -->\ntail\n")
    assert f"{test0 - fixed0:+.3f}" in text and "| weak-net | not computed yet" in text


def test_reference_readme_without_markers_is_refused(shipped, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    code, _, err = cli(["reference", "--readme", str(readme)], capsys)
    assert code == 3 and "reference-results:start" in err and str(readme) in err
    assert readme.read_text() == "# no markers\n"


def test_board_marks_reference_runs_and_lists_what_is_not_computed(shipped, tmp_path):
    from streamlit.testing.v1 import AppTest

    import mer_bench_leaderboard

    own = tmp_path / "own.sqlite"
    fill_store(own)
    app = os.path.join(os.path.dirname(mer_bench_leaderboard.__file__), "app.py")
    at = AppTest.from_file(app, default_timeout=120)
    at.session_state["protocol"] = "megc2019"
    os.environ["MER_BENCH_STORE"] = str(own)
    try:
        at.run()
    finally:
        del os.environ["MER_BENCH_STORE"]
    assert not at.exception and not at.error
    ranking_table = at.table[0].value
    assert "origin" in ranking_table.columns
    marked = ranking_table[ranking_table["origin"] == "reference"]
    assert set(marked["model"]) == {"good-net"}
    assert "Reference runs not computed yet" in [h.value for h in at.subheader]


def test_shipped_files_are_valid_stamped_and_planned():
    """Every file in results/ imports with the importer's checks, is a planned run of its set,
    and carries its command, version, commit, machine and wall time."""
    from mer_bench.core.registry import REFERENCE_SETS

    shipped_set = REFERENCE_SETS.get("megc2019-flows")
    planned = {key for run in shipped_set.planned for key in run.stored_runs()}
    for file in shipped_set.files():
        data = read_submission(Path(str(file)))
        submission = validate_submission(data, file.name)
        run = submission.run
        assert (run["model"], run["selection"], int(run["seed"])) in planned, file.name
        assert file.name == f"{run['model']}-{run['selection']}-s{run['seed']}.json"
        assert (run["protocol"], run["source"]) == ("megc2019", "flows")
        assert run["mer_bench_version"] and run["git_commit"] and run["wall_seconds"] > 0
        provenance = submission.provenance
        assert provenance["command"].startswith("mer-bench run ")
        assert provenance["machine"]["cores"] >= 1 and provenance["machine"]["cpu"]
        assert len(submission.predictions) == 442


def test_a_damaged_shipped_file_is_named_and_the_users_runs_still_show(
    shipped, tmp_path, capsys, monkeypatch
):
    from streamlit.testing.v1 import AppTest

    import mer_bench_leaderboard

    folder = tmp_path / "damaged"
    folder.mkdir()
    (folder / "bad-fixed-s0.json").write_text('{"format": "mer-bench-submission", "version": 2')
    bad = ReferenceSet(
        name="bad-set",
        protocol="megc2019",
        source="flows",
        package="",
        folder=str(folder),
        planned=(),
        data_hint="CLONE",
        gpu_command="-",
    )
    monkeypatch.setattr(reference, "reference_sets", lambda protocol=None, source=None: [bad])
    own = tmp_path / "own.sqlite"
    fill_store(own)
    code, _, err = cli(["table", "--protocol", "megc2019", "--store", str(own)], capsys)
    assert code == 3 and "bad-set" in err and "bad-fixed-s0.json" in err
    assert len(err.strip().splitlines()) == 1
    monkeypatch.setenv("MER_BENCH_STORE", str(own))
    app = os.path.join(os.path.dirname(mer_bench_leaderboard.__file__), "app.py")
    at = AppTest.from_file(app, default_timeout=120).run()
    assert not at.exception
    assert any("bad-fixed-s0.json" in w.value for w in at.warning)
    assert set(at.table[0].value["model"]) == {"good-net", "weak-net"}


@pytest.mark.parametrize("page", ["README.md", "docs/reference-results.md"])
def test_the_pages_tables_are_the_generated_ones(page, monkeypatch, tmp_path, capsys):
    """The README's reference table is `mer-bench reference`'s output on the shipped files,
    never typed by hand (regenerate with `mer-bench reference --readme README.md`)."""
    from mer_bench.cli.reference_cmd import END, START

    monkeypatch.delenv(reference.SWITCH, raising=False)
    monkeypatch.setenv("MER_BENCH_CACHE", str(tmp_path / "cache"))
    text = (Path(__file__).parent.parent / page).read_text(encoding="utf-8")
    block = text.split(START, 1)[1].split(END, 1)[0]
    code, out, err = cli(["reference"], capsys)
    assert code == 0, err
    assert block == "\n" + out, f"{page} is out of date: mer-bench reference --readme {page}"
