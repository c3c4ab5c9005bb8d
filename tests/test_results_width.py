"""`mer-bench results` at any width: a row stays one line, names are cut with an ellipsis (never a
letter per line), columns that do not fit are named, and a pipe gets whole lines."""

from __future__ import annotations

import pytest
from _cli import cli
from leaderboard_fixtures import add_fixture_run

from mer_bench.cli.narrow import GAP, Column, fit
from mer_bench.results.store import Store

LONG = "a-model-with-a-rather-long-registry-name"


@pytest.fixture(scope="module")
def store(tmp_path_factory, megc_manifest):
    path = tmp_path_factory.mktemp("width") / "results.sqlite"
    samples = megc_manifest
    with Store(path) as s:
        ids = [
            add_fixture_run(
                s,
                samples,
                "svm-hoof",
                "fixed",
                0,
                0.6,
                0,
                epochs=0,
                framework="estimator",
                rng_seed=1,
            ),
            add_fixture_run(s, samples, LONG, "fixed", 1, 0.8, 5000, rng_seed=2),
            add_fixture_run(s, samples, LONG, "best-on-test", 0, 0.9, 5000, rng_seed=3),
        ]
    return str(path), ids


def _rows(out: str, ids: list[str]) -> list[str]:
    """The rows of `ids`, in the order of `ids` (runs started in one second may list in either
    order)."""
    by_id = {line.split(" ", 1)[0]: line for line in out.splitlines()}
    return [by_id[i] for i in ids if i in by_id]


@pytest.mark.parametrize("width", [80, 60])
def test_narrow_terminal_rows_stay_one_line_each(store, capsys, width):
    path, ids = store
    code, out, err = cli(["results", "--store", path], capsys, columns=width)
    assert code == 0, err
    assert all(len(line) <= width for line in out.splitlines())
    rows = _rows(out, ids)
    assert len(rows) == 3
    lines = out.splitlines()
    first = min(lines.index(row) for row in rows)
    assert sorted(lines[first : first + 3]) == sorted(rows)  # no continuation lines between rows
    assert rows[0].split()[1] == "svm-hoof"  # short names whole
    cut = rows[1].split()[1]
    assert cut.endswith("…") and LONG.startswith(cut[:-1]) and len(cut) >= 8
    assert "best-on" in rows[2]
    header = next(line for line in lines if line.startswith("run "))
    assert header.split()[:3] == ["run", "model", "selection"]
    for row in rows:  # the scores are whole numbers with four decimals
        assert any(c.count(".") == 1 and len(c) == 6 for c in row.split())
    # what is left out is said: the one source in the title, the rest in a note
    assert "source flows" in " ".join(out.split())
    assert "left out at" in out and " ep" in out


def test_pipe_gets_whole_lines(store, capsys):
    path, ids = store
    code, out, err = cli(["results", "--store", path], capsys, columns=None)
    assert code == 0, err
    rows = _rows(out, ids)
    assert len(rows) == 3 and all(LONG in row for row in rows[1:])
    assert "best-on-test!" in rows[2] and "finished" in rows[0]
    assert "left out" not in out


def test_fit_cuts_the_widest_then_drops_the_least_kept():
    columns = [
        Column("id", keep=9),
        Column("name", keep=5, shrink_to=4),
        Column("extra", keep=1, shrink_to=3),
    ]
    rows = [["r1", "abcdefghij", "xxxxxxx"]]
    whole = fit(columns, rows, 100)
    assert whole.widths == (2, 10, 7) and not whole.left_out
    cut = fit(columns, rows, 2 + 8 + 7 + 2 * GAP)  # 2 characters short: the longest name gives
    assert cut.kept == (0, 1, 2) and cut.widths == (2, 8, 7)
    assert fit(columns, rows, 2 + 4 + 5 + 2 * GAP).widths == (2, 4, 5)  # both at their floor
    dropped = fit(columns, rows, 2 + 4 + 5 + 2 * GAP - 1)  # floors do not fit: extra goes
    assert dropped.kept == (0, 1) and dropped.common == {"extra": "xxxxxxx"}
    two = fit(columns, rows + [["r2", "k", "y"]], 8)
    assert two.left_out == ("extra",) and two.widths == (2, 4)
