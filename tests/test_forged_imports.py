"""Forged results are never ranked as real (issue 22, item 2): scores come from the protocol's
own labels, never from the submitter; an import that disagrees with what mer-bench knows is
refused naming the field; imported runs are shown as imported and never pooled with runs
computed here; duplicates are found on canonical sample keys."""

from __future__ import annotations

import copy
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from _cli import cli
from leaderboard_fixtures import DEMO_DATA, add_fixture_run, demo_samples

from mer_bench.core.errors import MerBenchError
from mer_bench.core.identity import RunIdentity
from mer_bench.results import ranking
from mer_bench.results.export import export_json
from mer_bench.results.metrics import score
from mer_bench.results.store import Store
from mer_bench.results.submission import import_submission
from mer_bench.results.summary import summarize_run
from mer_bench.results.truth import protocol_truth


def _export(store: Store, run_id: str) -> dict:
    return json.loads(json.dumps(export_json(store, store.run(run_id))))


def _write(tmp_path: Path, data: dict, name: str = "sub.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def _counts(path: Path) -> tuple[int, ...]:
    conn = sqlite3.connect(path)
    try:
        return tuple(
            conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("runs", "folds", "predictions")
        )
    finally:
        conn.close()


def _refused(tmp_path: Path, store_path: Path, data: dict, match: str) -> None:
    store = Store(store_path)
    before = _counts(store_path)
    with pytest.raises(MerBenchError, match=match):
        import_submission(_write(tmp_path, data), store)
    store.close()
    assert _counts(store_path) == before


def _retarget(sub: dict, **fields) -> None:
    """Change run fields and the identity with them (hashes recomputed, as a forger would)."""
    sub["run"].update({k: v for k, v in fields.items() if k in sub["run"]})
    identity = RunIdentity.from_dict({**sub["run"]["identity"], **fields})
    sub["run"].update(
        identity=identity.as_dict(),
        config_hash=identity.config_hash,
        group_hash=identity.group_hash,
    )


@pytest.fixture(scope="module")
def demo_export(tmp_path_factory) -> dict:
    """A genuine demo run (the default demo's megc2019 samples, about 70% right), exported."""
    store = Store(tmp_path_factory.mktemp("demo") / "src.sqlite")
    run_id = add_fixture_run(
        store, demo_samples(), "demo-net", "fixed", 0, 0.7, 10, source="demo", data=DEMO_DATA
    )
    data = _export(store, run_id)
    store.close()
    return data


@pytest.fixture(scope="module")
def real_export(tmp_path_factory, megc_manifest) -> dict:
    store = Store(tmp_path_factory.mktemp("real") / "src.sqlite")
    run_id = add_fixture_run(store, megc_manifest, "good-net", "fixed", 0, 0.8, 5000)
    data = _export(store, run_id)
    store.close()
    return data


def _forged(data: dict) -> dict:
    """The issue's forgery: a new run id, every label set to its prediction, real data claimed."""
    forged = copy.deepcopy(data)
    forged["run"]["run_id"] = "forged-run"
    for p in forged["predictions"]:
        p["label"] = p["pred"]
    forged["provenance"]["synthetic"] = False
    return forged


# -- (b) refused, naming the field ---------------------------------------------------------------
def test_the_issues_forgery_is_refused(tmp_path, store_path, demo_export):
    """Before: accepted, ranked with UF1 1.0 as real data. After: refused, naming the claim of
    real data; with that claim left out, naming the first label that is not the demo's."""
    forged = _forged(demo_export)
    _refused(tmp_path, store_path, forged, r"provenance\.synthetic is false")
    del forged["provenance"]["synthetic"]
    _refused(
        tmp_path,
        store_path,
        forged,
        r"predictions\[\d+\]\.label: sample .* but protocol megc2019 says .*regenerated demo",
    )


@pytest.mark.parametrize(
    "case, change, match",
    [
        (
            "labels",
            lambda d: d["predictions"][5].update(label=(d["predictions"][5]["label"] + 1) % 3),
            r"predictions\[5\]\.label: .* but protocol megc2019 says",
        ),
        (
            "synthetic claimed real",
            lambda d: d["provenance"].update(synthetic=False),
            r"provenance\.synthetic is false but source 'demo' generates synthetic data",
        ),
        (
            "made-up samples",
            lambda d: d["predictions"][0].update(sample="made_up"),
            r"predictions\[0\]: sample .*made_up is not in protocol megc2019 \(the regenerated demo",
        ),
        (
            "another demo's options",
            lambda d: _retarget(d, data={**d["run"]["identity"]["data"], "seed": 7}),
            r"protocol megc2019 .*\(the regenerated demo .*seed 7",
        ),
        (
            "protocol changed",
            lambda d: _retarget(d, protocol="megc2019-lodo"),
            r"dataset \w+ is held out in two folds .*megc2019-lodo's split",
        ),
        (
            "unknown framework",
            lambda d: d["card"].update(framework="quantum"),
            r"card\.framework 'quantum' is not one of torch, estimator",
        ),
    ],
)
def test_a_demo_import_that_disagrees_is_refused(
    tmp_path, store_path, demo_export, case, change, match
):
    data = copy.deepcopy(demo_export)
    change(data)
    _refused(tmp_path, store_path, data, match)


def test_a_registered_models_card_must_be_its_card(tmp_path, store_path, real_export):
    """Before: an import could change the card's framework (an estimator needs no epochs) and
    was ranked. After: a registered model's framework, view and size are its card's."""
    from dataclasses import asdict

    from mer_bench.core import registry

    card = json.loads(json.dumps(asdict(registry.get_model("ststnet").card), default=str))
    data = copy.deepcopy(real_export)
    _retarget(data, model="ststnet")
    data["card"] = {**card, "framework": "estimator"}
    _refused(tmp_path, store_path, data, r"card\.framework 'estimator' differs from model ststnet")
    data["card"] = {**card, "num_params": card["num_params"] + 1}
    _refused(tmp_path, store_path, data, r"card\.num_params .* differs from model ststnet")


def test_a_genuine_demo_import_is_accepted_and_scored_against_the_demo(
    tmp_path, store_path, demo_export
):
    store = Store(store_path)
    run_id, _ = import_submission(_write(tmp_path, demo_export), store)
    truth = protocol_truth("megc2019", "demo", DEMO_DATA)
    stored = store.predictions(run_id)
    assert len(stored) == len(truth.labels) == len(demo_samples())
    expected = score(
        np.array([p["label"] for p in demo_export["predictions"]]),
        np.array([p["pred"] for p in demo_export["predictions"]]),
        3,
        "cpu",
    )
    assert summarize_run(store, run_id, device="cpu").report.pooled.uf1 == pytest.approx(
        expected.values["uf1"]
    )
    assert store.run(run_id).provenance["labels_checked_against"].startswith("the regenerated demo")


# -- (d) duplicates on canonical sample keys ----------------------------------------------------
RESPELL = {
    "casme2": ("CASME_2", lambda s: str(int(s.removeprefix("sub")))),
    "smic": ("SMIC-HS", lambda s: f"s{int(s[1:]):02d}"),
    "samm": ("SAMM", lambda s: str(int(s))),
}


def test_respelled_duplicates_are_found(tmp_path, store_path, real_export):
    """Before: CASME_2 / s01 / 1 spellings passed the duplicate check under a new run id.
    After: the hash is taken on canonical keys, so they collide with the stored run."""
    store = Store(store_path)
    first, _ = import_submission(_write(tmp_path, real_export, "first.json"), store)
    store.close()
    respelled = copy.deepcopy(real_export)
    respelled["run"]["run_id"] = "respelled"
    for p in respelled["predictions"]:
        dataset, subject = RESPELL[p["dataset"]]
        p["dataset"], p["subject"] = dataset, subject(p["subject"])
    assert respelled["predictions"][0]["subject"] != real_export["predictions"][0]["subject"]
    _refused(tmp_path, store_path, respelled, f"has the same predictions as run {first}")


def test_a_computed_run_is_a_duplicate_whatever_the_spelling(
    tmp_path, store_path, megc_manifest, real_export
):
    store = Store(store_path)
    computed = add_fixture_run(store, megc_manifest, "good-net", "fixed", 0, 0.8, 5000)
    data = _export(store, computed)
    store.close()
    data["run"]["run_id"] = "copied"
    for p in data["predictions"]:
        dataset, subject = RESPELL[p["dataset"]]
        p["dataset"], p["subject"] = dataset.lower(), subject(p["subject"])
    _refused(tmp_path, store_path, data, f"has the same predictions as run {computed}")


# -- (a) scores recomputed against the protocol's labels, (c) shown as imported ------------------
def _tamper_labels(path: Path, run_id: str) -> None:
    """What an old importer or a hand-edited database could hold: every label = prediction."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE predictions SET label = pred WHERE run_id = ?", (run_id,))
    conn.close()


def test_stored_labels_are_never_scored(tmp_path, store_path, megc_manifest, capsys):
    """Before: a run whose stored labels equal its predictions showed UF1 1.0 in results, show,
    table and the board. After: every reader scores it against the protocol's labels."""
    store = Store(store_path)
    run_id = add_fixture_run(store, megc_manifest, "good-net", "fixed", 0, 0.8, 5000)
    honest = summarize_run(store, run_id, device="cpu").report.pooled.uf1
    store.close()
    _tamper_labels(store_path, run_id)
    assert 0.7 < honest < 0.9
    store = Store(store_path, read_only=True)
    assert summarize_run(store, run_id, device="cpu").report.pooled.uf1 == pytest.approx(honest)
    runs, predictions = ranking.load(store, "megc2019")
    table = ranking.ranking(runs, predictions)
    assert table["uf1_mean"].iloc[0] == pytest.approx(honest)
    store.close()
    code, out, _ = cli(["results", "--json", "--store", str(store_path)], capsys)
    assert code == 0 and json.loads(out)[0]["scores"]["uf1"] == pytest.approx(honest)


def test_a_demo_run_is_scored_against_the_regenerated_demo(tmp_path, store_path):
    """A demo run's stored labels do not count; samples that are not the demo's are not scored."""
    store = Store(store_path)
    samples = demo_samples()
    good = add_fixture_run(
        store, samples, "demo-net", "fixed", 0, 0.7, 10, source="demo", data=DEMO_DATA
    )
    fake = samples.copy()
    fake["sample"] = ["fake_" + s for s in fake["sample"]]
    bad = add_fixture_run(
        store, fake, "fake-net", "fixed", 0, 0.7, 10, source="demo", data=DEMO_DATA
    )
    honest = summarize_run(store, good, device="cpu").report.pooled.uf1
    store.close()
    _tamper_labels(store_path, good)
    store = Store(store_path, read_only=True)
    runs, predictions = ranking.load(store, "megc2019")
    problems: dict[str, str] = {}
    table = ranking.ranking(runs, predictions, problems=problems)
    assert list(table["model"]) == ["demo-net"]
    assert table["uf1_mean"].iloc[0] == pytest.approx(honest)
    assert "not scored against the regenerated demo" in problems[bad]
    store.close()


def test_imported_runs_are_shown_as_imported_and_never_pooled(
    tmp_path, store_path, megc_manifest, capsys
):
    """Before: an import of the same configuration was averaged with a computed run as a second
    seed. After: it is a row of its own, marked imported in table, results, show and ranking."""
    other = Store(tmp_path / "other.sqlite")
    seed1 = add_fixture_run(other, megc_manifest, "good-net", "fixed", 1, 0.6, 5000, rng_seed=5)
    data = _export(other, seed1)
    other.close()
    store = Store(store_path)
    computed = add_fixture_run(store, megc_manifest, "good-net", "fixed", 0, 0.8, 5000)
    assert data["run"]["group_hash"] == store.run(computed).group_hash  # same configuration
    imported, _ = import_submission(_write(tmp_path, data), store)
    runs, predictions = ranking.load(store, "megc2019")
    store.close()
    table = ranking.ranking(runs, predictions)
    assert sorted(zip(table["origin"], table["n_seeds"])) == [("", 1), ("imported", 1)]
    code, out, _ = cli(
        ["table", "-p", "megc2019", "--format", "csv", "--store", str(store_path)], capsys
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split(",")[1] == "origin"
    assert sorted(line.split(",")[1] for line in lines[1:3]) == ["", "imported"]
    code, out, _ = cli(["table", "-p", "megc2019", "--store", str(store_path)], capsys)
    assert code == 0 and "- imported: read from a submission file" in out
    code, out, _ = cli(["results", "--store", str(store_path)], capsys)
    assert code == 0 and "imported = read from a submission file" in out
    code, out, _ = cli(["show", imported, "--store", str(store_path)], capsys)
    assert code == 0 and "imported from sub.json: not computed here" in out
    assert computed != imported


def test_an_imported_run_whose_labels_cannot_be_checked_is_not_scored(
    tmp_path, store_path, megc_manifest, capsys
):
    """A run stored as imported on a protocol without a shipped list (real data) is listed but
    never scored: mer-bench cannot say its labels."""
    store = Store(store_path)
    run_id = add_fixture_run(
        store, megc_manifest, "good-net", "fixed", 0, 0.8, 5000, status="imported"
    )
    store.close()
    conn = sqlite3.connect(store_path)
    with conn:
        conn.execute("UPDATE runs SET protocol = 'casme2' WHERE run_id = ?", (run_id,))
    conn.close()
    code, out, _ = cli(["results", "--json", "--store", str(store_path)], capsys)
    row = json.loads(out)[0]
    assert code == 0 and row["scores"] is None
    assert "casme2 ships no sample list" in row["not_scored"]


def test_the_regenerated_demo_is_the_demo_the_loaders_read(tmp_path):
    """The demo's samples and labels from the generator's plan (no video rendered) are those the
    real loaders read from a generated tree, for every protocol the demo serves."""
    from mer_bench.core import registry
    from mer_bench.data.datasets import load_dataset
    from mer_bench.data.sources.demo import DemoSource
    from mer_bench.data.synth.generate import generate
    from mer_bench.data.synth.writers import DATASET_DIRS

    options = {"subjects": 4, "seed": 3, "clips_per_subject": 3, "difficulty": "standard"}
    generate(tmp_path, subjects=4, seed=3, clips_per_subject=3)
    read = {d: load_dataset(d, tmp_path / folder) for d, folder in DATASET_DIRS.items()}
    planned = DemoSource.planned_tables(options)
    # emotion tasks: AU runs are not yet scored against regenerated labels (issue 24)
    served = [
        n
        for n in registry.PROTOCOLS.names()
        if "demo" in registry.get_protocol(n).card.sources
        and registry.get_protocol(n).card.task == "emotion"
    ]
    assert {"megc2019", "megc2019-lodo", "casme2", "samm", "smic"} <= set(served)
    for name in served:
        spec = registry.get_protocol(name)
        keys = []
        for tables in (read, planned):
            samples = spec.protocol.rule_samples(
                {d: tables[d] for d in spec.card.datasets}, spec.card.classes
            )
            keys.append(
                sorted(
                    zip(samples["dataset"], samples["subject"], samples["sample"], samples["label"])
                )
            )
        assert keys[0] == keys[1] and len(keys[0]) >= 4, name
    truth = protocol_truth("megc2019", "demo", options)
    assert len(truth.labels) == 12 and truth.what.startswith("the regenerated demo")


def test_the_board_marks_imported_runs_and_scores_them_against_the_protocol(
    tmp_path, store_path, megc_manifest, monkeypatch
):
    """The board ranks an imported run on a row of its own, marked imported, with the score of
    the protocol's labels (its stored labels tampered to its predictions do not count)."""
    from streamlit.testing.v1 import AppTest

    other = Store(tmp_path / "other.sqlite")
    seed1 = add_fixture_run(other, megc_manifest, "good-net", "fixed", 1, 0.6, 5000, rng_seed=5)
    data = _export(other, seed1)
    honest = summarize_run(other, seed1, device="cpu").report.pooled.uf1
    other.close()
    store = Store(store_path)
    add_fixture_run(store, megc_manifest, "good-net", "fixed", 0, 0.8, 5000)
    imported, _ = import_submission(_write(tmp_path, data), store)
    store.close()
    _tamper_labels(store_path, imported)
    monkeypatch.setenv("MER_BENCH_STORE", str(store_path))
    app = AppTest.from_file(
        str(Path(__file__).resolve().parents[1] / "leaderboard" / "app.py"), default_timeout=60
    ).run()
    assert not app.exception
    ranking = next(t.value for t in app.table if "UF1 95% CI" in t.value.columns)
    assert sorted(ranking["origin"]) == ["imported", "–"]  # the board draws an empty cell as –
    row = ranking[ranking["origin"] == "imported"].iloc[0]
    assert row["seed ids"] == "1" and float(row["UF1"]) == pytest.approx(honest, abs=1e-4)


def test_a_run_hashed_before_canonical_keys_is_still_a_duplicate(tmp_path, store_path, real_export):
    """A run stored with the old hash (ids as spelled: SAMM '10' beside '010') still collides
    with a respelled import of its predictions."""
    store = Store(store_path)
    first, _ = import_submission(_write(tmp_path, real_export, "first.json"), store)
    store.close()
    conn = sqlite3.connect(store_path)
    with conn:
        conn.execute(
            "UPDATE runs SET content_hash = 'old-spelling-hash' WHERE run_id = ?", (first,)
        )
    conn.close()
    respelled = copy.deepcopy(real_export)
    respelled["run"]["run_id"] = "respelled"
    for p in respelled["predictions"]:
        p["dataset"] = RESPELL[p["dataset"]][0]
    _refused(tmp_path, store_path, respelled, f"has the same predictions as run {first}")
