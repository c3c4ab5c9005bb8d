"""The single trainer gives today's predictions, bit for bit.

`tests/data/v1/preserved_predictions_v1.npz` holds the exact class probabilities that the code of
commit f5ffd5c (before the trainer, policies and executors were rebuilt on one core) gave for two
small models on the `flows` source (see tests/data/v1/README.md). Sequential and local runs of
today's code must reproduce every float.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY, tiny_spec
from mer_bench import registry
from mer_bench.engine import RunConfig, run_benchmark
from mer_bench.sources import source_options
from mer_bench.store import Store

FIXTURE = Path(__file__).parent / "data" / "v1" / "preserved_predictions_v1.npz"


@pytest.fixture(scope="module")
def preserved() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as data:
        return {name: data[name] for name in data.files}


@pytest.mark.parametrize("executor", ["sequential", "local"])
@pytest.mark.parametrize("model, key", [(TINY, "tiny"), ("ststnet", "ststnet")])
def test_predictions_equal_the_stored_ones_bit_for_bit(executor, model, key, preserved, flows_dir,
                                                       tmp_path):
    registry.register(tiny_spec())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what the fixture ran with (workers run one thread each)
    try:
        config = RunConfig(model=model, protocol="megc2019", source="flows", device="cpu",
                           executor=executor, workers=2, epochs=2,
                           source_options=source_options("flows", data_root=flows_dir))
        with Store(tmp_path / "r.sqlite") as store:
            run_id = run_benchmark(config, store).run_id
            table = store.predictions(run_id)
    finally:
        torch.set_num_threads(threads)
    keys = (table["dataset"] + "/" + table["subject"] + "/" + table["sample"]).tolist()
    probs = dict(zip(keys, np.array(table["probs"].tolist(), dtype=np.float32)))
    got = np.stack([probs[k] for k in preserved["keys"]])
    assert got.shape == preserved[key].shape == (442, 3)
    assert np.array_equal(got, preserved[key])
