"""A results database filled with fixture runs for the leaderboard tests (no training needed).

Predictions are drawn so that each run's accuracy is close to a chosen value on the real
MEGC2019 sample list; runs are written through the public Store API like the engine does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mer_bench.core.cards import Recipe
from mer_bench.core.identity import RunIdentity
from mer_bench.results.store import FoldRecord, RunRecord, Store, new_run_id, now
from conftest import megc2019_list
from mer_bench_protocols.megc2019 import CLASSES

#: (model, selection, seed, accuracy, num_params)
FIXTURE_RUNS = (
    ("good-net", "fixed", 0, 0.80, 5000),
    ("good-net", "fixed", 1, 0.78, 5000),
    ("good-net", "best-on-test", 0, 0.92, 5000),
    ("weak-net", "fixed", 0, 0.50, 1200),
)


def fixture_predictions(samples: pd.DataFrame, accuracy: float, seed: int) -> np.ndarray:
    """Probabilities whose argmax is the label with probability `accuracy`, else another class."""
    rng = np.random.default_rng(seed)
    labels = samples["label"].to_numpy()
    right = rng.random(len(labels)) < accuracy
    wrong = (labels + rng.integers(1, len(CLASSES), len(labels))) % len(CLASSES)
    preds = np.where(right, labels, wrong)
    probs = np.full((len(labels), len(CLASSES)), 0.1)
    probs[np.arange(len(labels)), preds] = 0.8
    return probs


def add_fixture_run(
    store: Store,
    samples: pd.DataFrame,
    model: str,
    selection: str,
    seed: int,
    accuracy: float,
    num_params: int,
    epochs: int = 20,
    rng_seed: int = 0,
    source: str = "flows",
    finish: bool = True,
    data: dict | None = None,
    folds_stored: int | None = None,
    status: str = "finished",
    framework: str = "torch",
) -> str:
    groups = list(dict.fromkeys(zip(samples["dataset"], samples["subject"])))
    recipe = Recipe(optimizer="adam", lr=0.001, batch_size=64, epochs=epochs).as_dict()
    card = {
        "name": model,
        "description": f"fixture model {model}",
        "reference": "tests",
        "year": 2026,
        "view": "flow28",
        "num_params": num_params,
        "recipe": recipe,
        "framework": framework,
        "notes": "",
        "published": {},
    }
    identity = RunIdentity(
        model=model,
        protocol="megc2019",
        source=source,
        view={"name": "flow28"},
        data=data or {"data_root": "/fixture/flows"},
        selection=selection,
        recipe=recipe,
        seed=seed,
    )
    run_id = store.create_run(
        RunRecord(
            run_id=new_run_id(),
            model=model,
            protocol="megc2019",
            source=source,
            view="flow28",
            selection=selection,
            seed=seed,
            identity=identity.as_dict(),
            config_hash=identity.config_hash,
            group_hash=identity.group_hash,
            recipe=recipe,
            classes=tuple(CLASSES),
            card=card,
            provenance={"manifest_version": "megc2019-cde-442"},
            mer_bench_version="0.1.0",
            git_commit="abc123",
            torch_version="2.x",
            device_name="cpu",
            executor="sequential",
            n_folds=len(groups),
            started_at=now(),
            finished_at=None,
            status="running",
        )
    )
    probs = fixture_predictions(samples, accuracy, rng_seed)
    for index, (dataset, subject) in enumerate(groups[:folds_stored]):
        rows = np.flatnonzero(
            (samples["dataset"] == dataset).to_numpy() & (samples["subject"] == subject).to_numpy()
        )
        part = samples.iloc[rows]
        store.add_fold(
            run_id,
            FoldRecord(
                fold_index=index,
                fold_key=f"{dataset}:{subject}",
                seed=seed,
                n_train=len(samples) - len(rows),
                epochs_trained=epochs,
                selected_epoch=epochs
                if selection == "fixed" or epochs < 1
                else int(rows[0] % epochs) + 1,
                seconds=0.5 + 0.01 * index,
                datasets=part["dataset"].tolist(),
                subjects=part["subject"].tolist(),
                samples=part["sample"].tolist(),
                labels=part["label"].to_numpy(),
                probs=probs[rows],
            ),
        )
    if finish:
        store.set_status(run_id, status)
    return run_id


#: Runs that are stored but must not be ranked, or ranked apart (see fill_store).
EXTRA_RUNS = ("zero-epoch-net", "stopped-net", "demo-net")


#: The identity data options of the fixture's demo runs (the default demo).
DEMO_DATA = {"difficulty": "standard"}


def demo_samples(data: dict | None = None) -> pd.DataFrame:
    """The demo's own megc2019 samples for the data options `data` (regenerated from the
    generator's plan, as mer-bench scores demo runs): other subjects and class balance than the
    real list."""
    from mer_bench.core import registry
    from mer_bench.data.sources.demo import DemoSource

    spec = registry.get_protocol("megc2019")
    tables = DemoSource.planned_tables(DEMO_DATA if data is None else data)
    return spec.protocol.rule_samples({d: tables[d] for d in spec.card.datasets}, spec.card.classes)


def fill_store(path: Path) -> dict[tuple[str, str, int], str]:
    """Write FIXTURE_RUNS (real data: the flows source) into a new database at `path`, and
    beside them a best-on-test run with 0 epochs (cannot be scored), an interrupted run with 5
    of 68 folds, and two runs on the synthetic demo (its own labels: fixed and best-on-test);
    returns run ids by
    (model, policy, seed)."""
    samples = megc2019_list()
    store = Store(path)
    ids = {}
    for i, (model, selection, seed, accuracy, params) in enumerate(FIXTURE_RUNS):
        ids[(model, selection, seed)] = add_fixture_run(
            store, samples, model, selection, seed, accuracy, params, rng_seed=100 + i
        )
    ids[("zero-epoch-net", "best-on-test", 0)] = add_fixture_run(
        store, samples, "zero-epoch-net", "best-on-test", 0, 0.9, 10, epochs=0, rng_seed=7
    )
    ids[("stopped-net", "fixed", 0)] = add_fixture_run(
        store,
        samples,
        "stopped-net",
        "fixed",
        0,
        0.9,
        10,
        rng_seed=8,
        folds_stored=5,
        status="interrupted",
    )
    ids[("demo-net", "fixed", 0)] = add_fixture_run(
        store,
        demo_samples(),
        "demo-net",
        "fixed",
        0,
        0.95,
        10,
        rng_seed=9,
        source="demo",
        data=DEMO_DATA,
    )
    ids[("demo-net", "best-on-test", 0)] = add_fixture_run(
        store,
        demo_samples(),
        "demo-net",
        "best-on-test",
        0,
        0.97,
        10,
        rng_seed=10,
        source="demo",
        data=DEMO_DATA,
    )
    store.close()
    return ids
