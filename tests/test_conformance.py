"""The conformance suite over the whole model registry: every registered model (built-ins and
installed plugins alike) builds, runs forward, has its card's parameter count, trains a step;
whether it trains stacked (vmap) is reported, not required."""

from __future__ import annotations

import pytest

from mer_bench.core import registry
from mer_bench.run.conformance import check_model
from mer_bench.core.errors import MerBenchError

#: Workers run one intra-op thread each: the driver runs one as well, for equal numbers.
pytestmark = pytest.mark.usefixtures("one_thread")

#: Models whose stacked check is known to fail, with the reason (reported by `mer-bench check`).
NOT_VMAPPABLE: dict[str, str] = {}


def _models() -> list:
    """Every registered model; the big ones (training two stacked copies of HTNet's 140M
    parameters, or of R3D-18 on clips, takes a minute on two cores) run with the slow tests."""
    out = []
    for name in registry.MODELS.names():
        try:
            big = registry.get_model(name).card.num_params > 20_000_000
        except MerBenchError:  # a broken plugin: its test fails with the error
            big = False
        out.append(pytest.param(name, marks=pytest.mark.slow) if big else name)
    return out


@pytest.mark.parametrize("name", _models())
def test_every_registered_model_conforms(name):
    checks = check_model(name)
    failed = [f"{c.name}: {c.detail}" for c in checks if c.required and not c.passed]
    assert not failed, failed
    spec = registry.get_model(name)
    if spec.card.framework == "torch":
        assert [c.name for c in checks][:4] == [
            "builds",
            "forward gives (batch, classes) logits",
            "parameter count equals the card's",
            "trains one step and predicts",
        ]
        stacked = checks[-1]
        assert not stacked.required
        assert stacked.passed == (name not in NOT_VMAPPABLE), stacked.detail


def test_a_wrong_parameter_count_fails_the_check(tiny_model):
    import dataclasses

    spec = registry.get_model(tiny_model)
    wrong = dataclasses.replace(
        spec,
        card=dataclasses.replace(
            spec.card, name="test-wrong-count", num_params=spec.card.num_params + 1
        ),
    )
    registry.MODELS.register("test-wrong-count", wrong)
    checks = {c.name: c for c in check_model("test-wrong-count")}
    assert not checks["parameter count equals the card's"].passed
    assert "the card says" in checks["parameter count equals the card's"].detail
