"""`mer-bench table`: the board's ranking as a paper table (Markdown, LaTeX, CSV); its numbers are
the board's and those recomputed from the stored predictions."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest
from _cli import cli
from leaderboard_fixtures import add_fixture_run, fill_store

from mer_bench.results.metrics import score
from mer_bench.results.ranking import load, ranked, ranking, rule_text
from mer_bench.results.store import Store
from mer_bench_leaderboard import tables


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("table") / "results.sqlite"
    return str(path), fill_store(path)


def _markdown_rows(text: str) -> pd.DataFrame:
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    return pd.DataFrame(rows, columns=header)


def test_markdown_numbers_equal_the_board_and_the_stored_predictions(store, capsys):
    path, ids = store
    code, out, err = cli(["table", "--protocol", "megc2019", "--store", path], capsys)
    assert code == 0, err
    rows = _markdown_rows(out)
    runs_rows = rows[rows["rank"] != ""]
    assert list(runs_rows["model"]) == ["good-net", "weak-net"]  # honest, real data only
    assert list(runs_rows["seeds"]) == ["0,1", "0"] and set(runs_rows["view"]) == {"flow28"}
    # the board's strings, cell for cell
    with Store(path, read_only=True) as s:
        runs, preds = load(s, "megc2019")
        board = tables.ranking_display(ranked(ranking(runs[runs["source"] == "flows"], preds)))
        uf1 = {}
        for seed in (0, 1):
            p = s.predictions(ids[("good-net", "fixed", seed)])
            uf1[seed] = score(p["label"].to_numpy(), p["pred"].to_numpy(), 3, "cpu").uf1
    for (_, row), (_, shown) in zip(runs_rows.iterrows(), board.iterrows()):
        for col in ("UF1", "UF1 95% CI", "UAR", "UAR 95% CI", "casme2 UF1", "smic UAR"):
            assert row[col] == shown[col]
    mean, sd = np.mean(list(uf1.values())), np.std(list(uf1.values()), ddof=1)
    assert runs_rows["UF1"].iloc[0] == f"{mean:.4f} ± {sd:.4f}"
    low, high = (float(v) for v in runs_rows["UF1 95% CI"].iloc[0].strip("[]").split(","))
    assert low < mean < high
    # published numbers in their own labelled rows, and one footnote per rule
    htnet = rows[rows["model"] == "HTNet"].iloc[0]
    assert htnet["selection"] == "reported, test-selected" and htnet["UF1"] == "0.8603"
    assert htnet["rank"] == "" and htnet["UF1 95% CI"] == ""
    notes = [line for line in out.splitlines() if line.startswith("- ")]
    assert notes[0].startswith("- fixed: 20 epochs, declared before the run")
    assert any(
        n.startswith("- reported, test-selected: the epoch with the best accuracy") for n in notes
    )
    assert "other sources in this database, never ranked together: demo" in out


def test_latex_is_a_booktabs_tabular(store, capsys):
    path, _ = store
    code, out, err = cli(
        ["table", "-p", "megc2019", "--format", "latex", "--store", path, "--with-best-on-test"],
        capsys,
    )
    assert code == 0, err
    lines = out.splitlines()
    begin = next(i for i, s in enumerate(lines) if s.startswith(r"\begin{tabular}"))
    spec = re.fullmatch(r"\\begin\{tabular\}\{([lrc]+)\}", lines[begin]).group(1)
    end = lines.index(r"\end{tabular}")
    body = lines[begin + 1 : end]
    assert body[0] == r"\toprule" and body[2] == r"\midrule" and body[-1] == r"\bottomrule"
    rows = [s for s in body if s.endswith(r"\\")]
    unescaped_amp = re.compile(r"(?<!\\)&")
    assert all(len(unescaped_amp.findall(r)) == len(spec) - 1 for r in rows)
    header = rows[0]
    assert r"UF1 95\% CI" in header and "casme2 UF1" in header
    ranked_rows = [r for r in rows[1:] if not r.startswith(" &")]
    assert [r.split(" & ")[1] for r in ranked_rows] == ["good-net", "good-net", "weak-net"]
    assert ranked_rows[0].split(" & ")[3] == "best-on-test"
    assert r"$\pm$" in ranked_rows[1] and "±" not in out
    assert body.count(r"\midrule") == 2  # under the header, and before the reported rows
    for line in lines[end + 1 :]:  # notes: no LaTeX special character left raw
        assert not re.search(r"(?<!\\)[%&_#]", line.replace(r"\par", "")), line
    assert any(s.startswith("best-on-test: per held-out subject") for s in lines[end:])


def test_csv_has_the_rule_of_each_row_and_demo_runs_apart(store, capsys):
    path, _ = store
    code, out, _ = cli(
        ["table", "-p", "megc2019", "--format", "csv", "--store", path, "--source", "demo"], capsys
    )
    table = pd.read_csv(io.StringIO(out), dtype=str, keep_default_na=False)
    assert code == 0 and list(table["model"]) == ["demo-net"]  # no reported rows beside the demo
    assert table["rule"].iloc[0].startswith("fixed: 20 epochs")
    assert table["seeds"].iloc[0] == "0"


@pytest.mark.parametrize(
    "argv, code, words",
    [
        (["--protocol", "megc2091"], 2, "did you mean megc2019"),
        (["--protocol", "megc2019", "--format", "docx"], 2, "unknown table format 'docx'"),
        (["--protocol", "megc2019", "--source", "raw"], 2, "--source raw: no complete runs"),
        (["--protocol", "casme2"], 1, "no complete runs of protocol casme2"),
    ],
)
def test_bad_table_requests_get_one_line(store, capsys, argv, code, words):
    got, out, err = cli(["table", *argv, "--store", store[0]], capsys)
    assert got == code and err.count("\n") == 1 and words in err and not out


def test_an_estimator_beside_networks_gets_its_own_words_in_the_footnote(
    tmp_path, capsys, megc_manifest
):
    path = tmp_path / "results.sqlite"
    with Store(path) as s:
        add_fixture_run(
            s,
            megc_manifest,
            "svm-hoof",
            "fixed",
            0,
            0.85,
            0,
            epochs=0,
            framework="estimator",
            rng_seed=1,
        )
        add_fixture_run(s, megc_manifest, "net-a", "fixed", 0, 0.7, 10, rng_seed=2)
        add_fixture_run(s, megc_manifest, "net-b", "fixed", 0, 0.6, 10, epochs=40, rng_seed=3)
        add_fixture_run(
            s, megc_manifest, "net-b", "best-on-test", 0, 0.9, 10, epochs=40, rng_seed=4
        )
    code, out, err = cli(
        ["table", "-p", "megc2019", "--store", str(path), "--with-best-on-test"], capsys
    )
    assert code == 0, err
    rows = _markdown_rows(out)
    assert rows.set_index("model").loc["svm-hoof", "epochs"] == "-"
    notes = [line for line in out.splitlines() if line.startswith("- ")]
    assert notes[0] == (
        "- fixed: 20 or 40 epochs; estimators (epochs -) fitted once, declared "
        "before the run; the held-out subject predicted once"
    )
    assert "nan" not in out
    assert any(
        n.startswith("- best-on-test: per held-out subject, the epoch (of 40) ") for n in notes
    )
    alone = rule_text("fixed", float("nan"), True)
    ranking_rule = rule_text("fixed", [20, 20], True)
    assert alone.startswith("fixed: fitted once,") and ranking_rule.startswith("fixed: 20 epochs,")
