"""The single trainer gives the predictions of the code before it, bit for bit.

`tests/data/v1/preserved_predictions_v1.npz` holds the exact class probabilities that the code of
commit f5ffd5c (before the trainer, policies and executors were rebuilt on one core) gave for two
small models on the `flows` source (tests/data/v1/README.md). Sequential and local runs of
today's code must reproduce every float.

Floats depend on the CPU's instruction set (AVX2 and AVX-512 kernels round differently), so the
fixture was made, and today's code runs here, under `tests/_pinned.py`'s pinned arithmetic, in a
process of its own: the pins must be set before torch loads.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from _pinned import PINNED_CAPABILITY, pinned_environ

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
FIXTURE = HERE / "data" / "v1" / "preserved_predictions_v1.npz"


def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


@pytest.fixture(scope="module")
def preserved() -> dict[str, np.ndarray]:
    return _load(FIXTURE)


@pytest.fixture(scope="module")
def today(tmp_path_factory) -> dict[str, np.ndarray]:
    """Today's code on the fixture's problem: both models under both executors, pinned."""
    out = tmp_path_factory.mktemp("preserved") / "today.npz"
    done = subprocess.run(
        [sys.executable, str(HERE / "_preserved_run.py"), str(out)],
        env=pinned_environ(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    arrays = _load(out)
    if str(arrays["pinned_capability"]) != PINNED_CAPABILITY:
        pytest.skip(
            f"this CPU cannot run torch's {PINNED_CAPABILITY} kernels "
            f"(it reports {arrays['pinned_capability']}), so the stored floats cannot be "
            "reproduced here"
        )
    return arrays


def test_the_fixture_and_todays_run_were_made_under_the_same_pins(preserved, today):
    for name in ("capability", "mkldnn", "nnpack", "threads"):
        assert str(preserved[f"pinned_{name}"]) == str(today[f"pinned_{name}"]), name
    assert str(today["pinned_mkldnn"]) == "False" and str(today["pinned_threads"]) == "1"


@pytest.mark.parametrize("executor", ["sequential", "local"])
@pytest.mark.parametrize("key", ["tiny", "ststnet"])
def test_predictions_equal_the_stored_ones_bit_for_bit(executor, key, preserved, today):
    row = {name: i for i, name in enumerate(today["keys"])}
    got = today[f"{key}/{executor}"][[row[name] for name in preserved["keys"]]]
    assert got.shape == preserved[key].shape == (442, 3)
    assert got.dtype == preserved[key].dtype == np.float32
    assert np.array_equal(got, preserved[key])
