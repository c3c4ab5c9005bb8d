"""Cross-dataset protocols: megc2019-lodo (leave one dataset out of the composite) and
megc2018-hde (CASME II <-> SAMM on the owners' objective classes)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _dataset_trees import casme2_tree, samm_tree, write_xlsx
from sklearn.metrics import f1_score, recall_score

from mer_bench.core import registry
from mer_bench.data.contract import FALLBACK_POINTS, InputArrays, ProtocolData, Source
from mer_bench.data.datasets import load_dataset
from mer_bench.run.engine import RunConfig, run_benchmark
from mer_bench.core.errors import DataError
from mer_bench.run.folds import make_folds
from mer_bench.data.resolve import protocol_samples
from mer_bench.data.sources import source_options
from mer_bench.results.store import Store

DATASETS = ["casme2", "samm", "smic"]
SIZES = {"casme2": (145, 24), "samm": (133, 28), "smic": (164, 16)}  # samples, subjects


def lodo(model: str, root, **kw) -> RunConfig:
    kw.setdefault("executor", "sequential")
    kw.setdefault("epochs", 8)
    return RunConfig(
        model=model,
        protocol="megc2019-lodo",
        source="flows",
        source_options=source_options("flows", data_root=root),
        device="cpu",
        **kw,
    )


def probs_by_sample(store: Store, run_id: str) -> pd.Series:
    table = store.predictions(run_id).set_index(["dataset", "subject", "sample"])
    return table["probs"].map(np.array).sort_index()


@pytest.fixture(scope="module")
def lodo_run(tmp_path_factory, flows_dir):
    from conftest import tiny_spec

    registry.register(tiny_spec())
    store = Store(tmp_path_factory.mktemp("lodo") / "results.sqlite")
    return store, run_benchmark(lodo(tiny_spec().card.name, flows_dir), store)


def test_each_fold_holds_out_one_whole_dataset(lodo_run):
    store, summary = lodo_run
    folds = store.folds(summary.run_id)
    assert folds["fold_key"].tolist() == DATASETS
    assert folds["n_test"].tolist() == [SIZES[d][0] for d in DATASETS]
    assert (folds["n_train"] + folds["n_test"] == 442).all()
    preds = store.predictions(summary.run_id)
    for index, dataset in enumerate(DATASETS):
        held_out = preds[preds["fold_index"] == index]
        assert set(held_out["dataset"]) == {dataset}
        assert held_out["subject"].nunique() == SIZES[dataset][1]
    assert summary.n_samples == 442 and summary.n_subjects == 68


def test_per_dataset_scores_are_recomputed_from_the_stored_predictions(lodo_run):
    store, summary = lodo_run
    preds = store.predictions(summary.run_id)
    assert sorted(summary.report.per_dataset) == DATASETS
    for dataset, scores in summary.report.per_dataset.items():
        part = preds[preds["dataset"] == dataset]
        y, p = part["label"].to_numpy(), part["pred"].to_numpy()
        uf1 = f1_score(y, p, labels=sorted(set(y) | set(p)), average="macro", zero_division=0)
        uar = recall_score(y, p, labels=sorted(set(y)), average="macro")
        assert scores.n == SIZES[dataset][0]
        assert scores.values["uf1"] == pytest.approx(uf1, abs=1e-12)
        assert scores.values["uar"] == pytest.approx(uar, abs=1e-12)
        # the held-out dataset is exactly one fold's test set: its score is that fold's
        assert set(part["fold_index"]) == {DATASETS.index(dataset)}
    # the fixture's class patterns are the same in every dataset, so they carry across
    assert min(s.values["uar"] for s in summary.report.per_dataset.values()) > 0.6


def test_fold_parallel_and_best_on_test_cope_with_the_big_folds(lodo_run, flows_dir):
    store, reference = lodo_run
    model = store.run(reference.run_id).model
    stacked = run_benchmark(lodo(model, flows_dir, executor="fold-parallel"), store)
    a, b = probs_by_sample(store, reference.run_id), probs_by_sample(store, stacked.run_id)
    assert a.index.equals(b.index)
    assert np.abs(np.stack(a.to_numpy()) - np.stack(b.to_numpy())).max() < 1e-4
    legacy = run_benchmark(
        lodo(model, flows_dir, executor="fold-parallel", epochs=4, selection="best-on-test"), store
    )
    folds = store.folds(legacy.run_id)
    assert folds["fold_key"].tolist() == DATASETS and folds["selected_epoch"].between(1, 4).all()
    assert store.run(legacy.run_id).selection == "best-on-test"


# --- MEGC2018 hold-out-database ------------------------------------------------------------


class TreeSource(Source):
    """The loader tables of a fixture tree, as source `raw` gives them to protocols."""

    name = "raw"
    sample_ids = "real"

    def __init__(self, roots: dict) -> None:
        self.roots = roots

    def dataset_table(self, dataset: str) -> pd.DataFrame:
        return load_dataset(dataset, self.roots[dataset])

    def arrays(self, samples: pd.DataFrame) -> InputArrays:
        n = len(samples)
        return InputArrays(
            np.zeros((n, 3, 28, 28)), np.repeat(FALLBACK_POINTS[None], n, 0), np.ones(n, dtype=bool)
        )


CASME2_ROWS = [
    dict(subject=s, sample=f"EP0{k}_0{s}", onset=10, apex=12, offset=14, emotion=emotion)
    for s in (1, 2)
    for k, emotion in enumerate(("happiness", "disgust", "others", "surprise"), 1)
]
CASME2_OBJECTIVE = [1, 3, 7, 2, 5, 4, 6, 2]  # per row above; 6 and 7 are not in the protocol
SAMM_ROWS = [
    dict(
        subject=s,
        sample=f"00{s}_{k}_1",
        onset=100,
        apex=104,
        offset=108,
        emotion=emotion,
        objective=objective,
    )
    for s in (6, 7)
    for k, (emotion, objective) in enumerate(
        (("Happiness", "I"), ("Anger", "III"), ("Other", "VII"), ("Surprise", 2)), 1
    )
]


def hde_tree(tmp_path, objective_sheet: bool = True) -> dict:
    casme2 = casme2_tree(tmp_path / "CASME2", CASME2_ROWS, ends_only=True, touch=True)
    if objective_sheet:
        write_xlsx(
            casme2 / "CASME2-ObjectiveClasses.xlsx",
            [["Subject", "Filename", "Objective Class"]]
            + [[r["subject"], r["sample"], c] for r, c in zip(CASME2_ROWS, CASME2_OBJECTIVE)],
        )
    samm = samm_tree(tmp_path / "SAMM", SAMM_ROWS, ends_only=True, touch=True)
    return {"casme2": casme2, "samm": samm}


def test_megc2018_hde_labels_are_the_owners_objective_classes(tmp_path):
    spec = registry.get_protocol("megc2018-hde")
    assert spec.card.classes == ("I", "II", "III", "IV", "V")
    assert spec.card.split == "hold-out-database" and "Objective" in spec.card.notes
    samples, _ = protocol_samples(spec, TreeSource(hde_tree(tmp_path)))
    got = dict(zip(samples["dataset"] + "/" + samples["sample"], samples["class"]))
    assert got == {
        "casme2/EP01_01": "I",
        "casme2/EP02_01": "III",
        "casme2/EP04_01": "II",
        "casme2/EP01_02": "V",
        "casme2/EP02_02": "IV",
        "casme2/EP04_02": "II",
        "samm/006_1_1": "I",
        "samm/006_2_1": "III",
        "samm/006_4_1": "II",
        "samm/007_1_1": "I",
        "samm/007_2_1": "III",
        "samm/007_4_1": "II",
    }  # VI, VII left out
    assert samples["label"].tolist() == [spec.card.classes.index(c) for c in samples["class"]]
    data = ProtocolData(samples, TreeSource({}).arrays(samples), spec.card.classes)
    folds = make_folds(spec.card.split, data, run_seed=0)
    assert [f.key for f in folds] == ["casme2", "samm"]  # train on one, test on the other
    for fold in folds:
        assert set(samples["dataset"].iloc[fold.test_idx]) == {fold.key}
        assert fold.key not in set(samples["dataset"].iloc[fold.train_idx])


def test_megc2018_hde_without_casme2_objective_classes_names_the_column(tmp_path):
    source = TreeSource(hde_tree(tmp_path, objective_sheet=False))
    with pytest.raises(DataError, match=r"casme2 table lacks columns \['objective_class'\]"):
        protocol_samples(registry.get_protocol("megc2018-hde"), source)
