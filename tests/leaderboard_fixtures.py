"""A results database filled with fixture runs for the leaderboard tests (no training needed).

Predictions are drawn so that each run's accuracy is close to a chosen value on the real
MEGC2019 sample list; runs are written through the public Store API like the engine does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mer_bench.store import FoldRecord, Store
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


def add_fixture_run(store: Store, samples: pd.DataFrame, model: str, selection: str, seed: int,
                    accuracy: float, num_params: int, epochs: int = 20, rng_seed: int = 0) -> str:
    groups = list(dict.fromkeys(zip(samples["dataset"], samples["subject"])))
    recipe = {"optimizer": "adam", "lr": 0.001, "batch_size": 64, "epochs": epochs,
              "weight_decay": 0.0}
    card = {"name": model, "description": f"fixture model {model}", "reference": "tests",
            "year": 2026, "input_kind": "flow28", "num_params": num_params, "recipe": recipe,
            "framework": "torch", "notes": "", "published": {}}
    run_id = store.create_run(
        model=model, protocol="megc2019", source="flows", selection=selection, epochs=epochs,
        seed=seed, recipe=recipe, config_hash=f"{model}-{selection}-{seed}",
        classes=list(CLASSES), card=card, provenance={"manifest_version": "megc2019-cde-442"},
        mer_bench_version="0.1.0", git_commit="abc123", torch_version="2.x", device_name="cpu",
        executor="sequential", n_folds=len(groups))
    probs = fixture_predictions(samples, accuracy, rng_seed)
    for index, (dataset, subject) in enumerate(groups):
        rows = np.flatnonzero((samples["dataset"] == dataset).to_numpy()
                              & (samples["subject"] == subject).to_numpy())
        part = samples.iloc[rows]
        store.add_fold(run_id, FoldRecord(
            fold_index=index, fold_key=f"{dataset}:{subject}", seed=seed,
            n_train=len(samples) - len(rows), epochs_trained=epochs,
            selected_epoch=epochs if selection == "fixed" else int(rows[0] % epochs) + 1,
            seconds=0.5 + 0.01 * index, datasets=part["dataset"].tolist(),
            subjects=part["subject"].tolist(), samples=part["sample"].tolist(),
            labels=part["label"].to_numpy(), probs=probs[rows]))
    store.finish_run(run_id)
    return run_id


def fill_store(path: Path) -> dict[tuple[str, str, int], str]:
    """Write FIXTURE_RUNS into a new database at `path`; returns run ids by (model, policy, seed)."""
    samples = megc2019_list()
    store = Store(path)
    ids = {}
    for i, (model, selection, seed, accuracy, params) in enumerate(FIXTURE_RUNS):
        ids[(model, selection, seed)] = add_fixture_run(store, samples, model, selection, seed,
                                                        accuracy, params, rng_seed=100 + i)
    store.close()
    return ids
