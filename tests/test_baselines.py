"""Baselines: each builds, maps (B, 3, 28, 28) to (B, 3), has the parameter count its card
states, learns a tiny separable problem; the HOOF SVM separates an easy problem."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.func import functional_call

from mer_bench.core import registry
from mer_bench.data.contract import CHANNEL_U, CHANNEL_V
from mer_bench_baselines.svm_hoof import HOOFSVM, hoof_features

TORCH_BASELINES = ("ststnet", "offapexnet", "dual-inception", "resnet18-flow", "vit-tiny-flow")
ALL_BASELINES = TORCH_BASELINES + ("svm-hoof",)

#: Exact trainable parameter counts for 3 classes (also on the cards; both are checked).
EXPECTED_PARAMS = {
    "ststnet": 1_683,
    "offapexnet": 2_664_475,
    "dual-inception": 6_449_867,
    "resnet18-flow": 11_170_371,
    "vit-tiny-flow": 5_371_203,
    "svm-hoof": 0,
}


def separable_flow(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """flow28-like arrays on the 0-255 scale; class k moves a different face region/channel."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.normal(128.0, 6.0, size=(n, 3, 28, 28))
    for i, label in enumerate(y):
        if label == 0:
            x[i, 1, 3:12, 4:24] += 60.0  # v up in the eye region
        elif label == 1:
            x[i, 0, 17:26, 4:24] += 60.0  # u right in the mouth region
        else:
            x[i, 0, 3:12, 4:24] -= 60.0  # u left in the eye region
    return np.clip(x, 0, 255).astype(np.float32), y.astype(np.int64)


@pytest.mark.parametrize("name", ALL_BASELINES)
def test_registered_with_card(name: str) -> None:
    spec = registry.get_model(name)
    assert spec.card.name == name
    assert spec.card.view == "flow28"
    assert spec.card.num_params == EXPECTED_PARAMS[name]
    assert registry.MODELS.origin(name) == "mer-bench"


@pytest.mark.parametrize("name", TORCH_BASELINES)
def test_forward_shape_and_param_count(name: str) -> None:
    spec = registry.get_model(name)
    torch.manual_seed(0)
    model = spec.build(3).eval()
    assert spec.card.framework == "torch"
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == spec.card.num_params
    x = torch.as_tensor(separable_flow(5, 0)[0])
    with torch.no_grad():
        out = model(x)
    assert out.shape == (5, 3)
    assert torch.isfinite(out).all()
    # Other class counts change only the head.
    assert spec.build(7).eval()(x[:2]).shape == (2, 7)


@pytest.mark.parametrize("name", TORCH_BASELINES)
def test_functional_call_matches_module(name: str) -> None:
    """The engine may train fold copies functionally: parameters passed in give the same logits."""
    torch.manual_seed(0)
    model = registry.get_model(name).build(3).eval()
    x = torch.as_tensor(separable_flow(4, 1)[0])
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    buffers = dict(model.named_buffers())
    with torch.no_grad():
        direct = model(x)
        functional = functional_call(model, {**params, **buffers}, (x,))
    torch.testing.assert_close(functional, direct)


#: A ViT without warm-up diverges at 1e-3 (see the vit-tiny-flow card); the rest use 1e-3.
TEST_LR = {"vit-tiny-flow": 1e-4}


@pytest.mark.parametrize("name", TORCH_BASELINES)
def test_training_steps_reduce_loss(name: str) -> None:
    """Full-batch Adam on 12 separable samples: the loss must fall well below its start."""
    torch.manual_seed(0)
    model = registry.get_model(name).build(3).train()
    x_np, y_np = separable_flow(12, 2)
    x, y = torch.as_tensor(x_np), torch.as_tensor(y_np)
    optimizer = torch.optim.Adam(model.parameters(), lr=TEST_LR.get(name, 1e-3))
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-3:]) < 0.75 * losses[0], losses


def test_hoof_features_shape_and_scale_invariance() -> None:
    x, _ = separable_flow(6, 3)
    f = hoof_features(x)
    assert f.shape == (6, 4 * 4 * 8 + 16)
    assert np.allclose(f[:, :128].sum(axis=1), 1.0, atol=1e-5)  # L1-normalised histograms
    # Per-image min-max scaling of the flow images changes offset and scale, not the features.
    np.testing.assert_allclose(hoof_features(0.5 * x + 40.0), f, rtol=1e-4, atol=1e-6)


def test_hoof_orientation_bins() -> None:
    """Pure rightward motion (u > 0) lands in one bin; pure downward (v > 0) two bins later."""
    x = np.full((2, 3, 28, 28), 128.0, dtype=np.float32)
    x[0, CHANNEL_U, :7, :7] += 50.0  # cell 0, u positive: angle 0 -> bin 4 of 8 over [-pi, pi)
    x[1, CHANNEL_V, :7, :7] += 50.0  # cell 0, v positive: angle pi/2 -> bin 6
    f = hoof_features(x)
    assert f[0, 4] == pytest.approx(1.0, abs=1e-6)
    assert f[1, 6] == pytest.approx(1.0, abs=1e-6)


def test_svm_separates_easy_problem() -> None:
    spec = registry.get_model("svm-hoof")
    assert spec.card.framework == "estimator"
    x, y = separable_flow(60, 4)
    xt, yt = separable_flow(30, 5)
    svm = spec.build(3)
    svm.fit(x, y, seed=0)
    probs = svm.predict_proba(xt)
    assert probs.shape == (30, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert (probs.argmax(axis=1) == yt).mean() >= 0.95
    again = spec.build(3)
    again.fit(x, y, seed=1)
    np.testing.assert_allclose(again.predict_proba(xt), probs)  # deterministic


def test_svm_missing_classes_get_zero_probability() -> None:
    x, y = separable_flow(30, 6)
    svm = HOOFSVM(num_classes=4)
    keep = y < 2
    svm.fit(x[keep], y[keep], seed=0)
    probs = svm.predict_proba(x)
    assert probs.shape == (30, 4)
    assert np.all(probs[:, 2:] == 0.0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert (probs.argmax(axis=1)[keep] == y[keep]).mean() >= 0.9
    single = HOOFSVM(num_classes=3)
    single.fit(x[y == 1], y[y == 1], seed=0)
    np.testing.assert_array_equal(single.predict_proba(x[:3]), [[0, 1, 0]] * 3)


def test_svm_predict_before_fit_raises() -> None:
    with pytest.raises(RuntimeError, match="before fit"):
        HOOFSVM(3).predict_proba(np.zeros((1, 3, 28, 28), dtype=np.float32))


@pytest.fixture(scope="module")
def demo_cache(tmp_path_factory) -> Path:
    """One cache folder for the module: the demo data is generated once for all baselines."""
    return tmp_path_factory.mktemp("demo-cache")


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_BASELINES)
def test_baseline_runs_through_cli_on_demo(name: str, demo_cache: Path, tmp_path: Path) -> None:
    """`mer-bench run --protocol megc2019 --source demo --epochs 1` (a 4-subject demo) completes
    and stores all folds."""
    from typer.testing import CliRunner

    from mer_bench.cli import app
    from mer_bench.results.store import Store

    store_path, summary_path = tmp_path / "results.sqlite", tmp_path / "summary.json"
    torch.set_num_threads(1)
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--model",
            name,
            "--protocol",
            "megc2019",
            "--source",
            "demo",
            "--epochs",
            "1",
            "--demo-subjects",
            "4",
            "--store",
            str(store_path),
            "--cache-dir",
            str(demo_cache),
            "--json",
            str(summary_path),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    summary = json.loads(summary_path.read_text())
    assert summary["model"] == name and summary["protocol"] == "megc2019"
    assert 0.0 <= summary["uf1"] <= 1.0 and 0.0 <= summary["uar"] <= 1.0
    store = Store(store_path)
    try:
        (run,) = store.runs()
        assert run.status == "finished" and run.card["num_params"] == EXPECTED_PARAMS[name]
        assert store.finished_folds(run.run_id) == set(range(run.n_folds))
        predictions = store.predictions(run.run_id)
        assert len(predictions) == summary["n_samples"] > 0
    finally:
        store.close()
