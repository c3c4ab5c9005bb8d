"""HTNet: exact parameter counts, region tiling, single-token attention, vmap, registered cards."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from mer_bench import registry
from mer_bench.data import FALLBACK_POINTS, InputArrays
from mer_bench_htnet.model import Attention, HTNet, HTNetConfig, count_parameters
from mer_bench_htnet.regions import prepare_inputs, tile_regions, window_centres

torch.set_num_threads(1)

HTNET_NAMES = ("htnet", "htnet-small", "htnet-tiny")
TINY = HTNetConfig(dim=32, heads=3, block_repeats=(1, 1, 2))


@pytest.fixture(scope="module")
def paper_model() -> HTNet:
    torch.manual_seed(0)
    return HTNet(HTNetConfig(), num_classes=3)


def _points(left_eye, right_eye, nose, left_mouth, right_mouth) -> np.ndarray:
    return np.array([[left_eye, right_eye, nose, left_mouth, right_mouth]], dtype=np.float32)


def _arrays(flow: np.ndarray, points: np.ndarray, fallback: bool = False) -> InputArrays:
    return InputArrays(flow, points, np.full(len(flow), fallback))


# ---------------------------------------------------------------- architecture

def test_paper_configuration_parameter_count(paper_model: HTNet) -> None:
    assert count_parameters(paper_model) == 139_582_982


def test_block_repeats_2_2_8_parameter_count() -> None:
    model = HTNet(HTNetConfig(block_repeats=(2, 2, 8)), num_classes=3)
    assert count_parameters(model) == 114_429_446


def test_paper_model_output_shape_and_finite(paper_model: HTNet) -> None:
    x = torch.rand(5, 3, 28, 28) * 255
    with torch.no_grad():
        logits = paper_model(x)
    assert logits.shape == (5, 3)
    assert torch.isfinite(logits).all()


def test_output_shape_for_other_class_counts() -> None:
    model = HTNet(TINY, num_classes=5)
    assert model(torch.rand(7, 3, 28, 28) * 255).shape == (7, 5)


def test_single_token_attention_at_paper_configuration(paper_model: HTNet) -> None:
    """Every local block holds one token: softmax weights are exactly 1 and attention output
    equals the value path to_out(v), so regions meet only in the aggregation convolutions."""
    assert HTNetConfig().seq_len == 1
    seen: list[tuple[Attention, torch.Tensor, torch.Tensor]] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: seen.append((mod, inp[0], out)))
             for m in paper_model.modules() if isinstance(m, Attention)]
    try:
        with torch.no_grad():
            paper_model(torch.rand(2, 3, 28, 28) * 255)
    finally:
        for h in hooks:
            h.remove()
    assert len(seen) == 2 + 2 + 10
    with torch.no_grad():
        for attn, x, out in seen:
            assert x.shape[1] == 1  # tokens per block
            q, k, v = attn.qkv(x)
            weights = attn.weights(q, k)
            assert torch.equal(weights, torch.ones_like(weights))
            value_path = attn.to_out(rearrange(v, "b h t d -> b t (h d)"))
            torch.testing.assert_close(out, value_path, rtol=1e-5, atol=1e-4)


def test_attention_mixes_tokens_when_blocks_hold_several() -> None:
    """Control for the test above: with 56x56 input a block holds 4 tokens and weights vary."""
    config = HTNetConfig(image_size=56, dim=32, block_repeats=(1, 1, 1))
    assert config.seq_len == 4
    attn = HTNet(config, 3).levels[0].transformer.layers[0][0]
    q, k, _ = attn.qkv(torch.randn(3, 4, 32))
    weights = attn.weights(q, k)
    assert weights.shape == (3, 3, 4, 4)
    assert (weights < 0.99).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 3, 4))


def _reference_forward(model: HTNet, img: torch.Tensor) -> torch.Tensor:
    """The paper's formulation on (B, C, H, W) maps with true 1x1 convolutions and an explicit
    channel LayerNorm, from the same parameters: checks the channels-last fast path."""

    def norm(ln, x):
        var = torch.var(x, dim=1, unbiased=False, keepdim=True)
        return (x - x.mean(1, keepdim=True)) / torch.sqrt(var + ln.eps) * ln.g + ln.b

    def conv(c, x):
        return F.conv2d(x, c.weight, c.bias)

    p = model.config.patch_size
    x = conv(model.to_patch_embedding,
             rearrange(img, "b c (h p1) (w p2) -> b (p1 p2 c) h w", p1=p, p2=p))
    for level in model.levels:
        n, tr = level.blocks, level.transformer
        x = rearrange(x, "b c (b1 h) (b2 w) -> (b b1 b2) c h w", b1=n, b2=n)
        h, w = x.shape[-2:]
        x = x + tr.pos_emb[: h * w].reshape(1, 1, h, w)
        for attn, ff in tr.layers:
            q, k, v = conv(attn.to_qkv, norm(attn.norm, x)).chunk(3, dim=1)
            q, k, v = (rearrange(t, "b (h d) x y -> b h (x y) d", h=attn.heads) for t in (q, k, v))
            a = torch.softmax(torch.einsum("bhid,bhjd->bhij", q, k) * attn.scale, dim=-1)
            o = rearrange(torch.einsum("bhij,bhjd->bhid", a, v), "b h (x y) d -> b (h d) x y", x=h, y=w)
            x = conv(attn.to_out[0], o) + x
            ln, c1, _, _, c2, _ = ff.net
            x = conv(c2, F.gelu(conv(c1, norm(ln, x)))) + x
        x = rearrange(x, "(b b1 b2) c h w -> b c (b1 h) (b2 w)", b1=n, b2=n)
        if not isinstance(level.aggregate, torch.nn.Identity):
            agg = level.aggregate
            x = F.max_pool2d(norm(agg.norm, agg.conv(x)), 3, stride=2, padding=1)
    ln, linear = model.head
    return linear(norm(ln, x).mean(dim=(2, 3)))


@pytest.mark.parametrize("image_size", [28, 56])
def test_fast_path_equals_nchw_conv_formulation(image_size: int) -> None:
    torch.manual_seed(1)
    model = HTNet(HTNetConfig(image_size=image_size, dim=24, block_repeats=(1, 2, 1)), 3)
    img = torch.rand(4, 3, image_size, image_size) * 255
    with torch.no_grad():
        torch.testing.assert_close(model(img), _reference_forward(model, img), rtol=1e-4, atol=1e-4)


def test_vmap_functional_call_matches_each_copy() -> None:
    """Two independently initialised copies, stacked and vmapped, give each copy's own logits
    and gradients (the fold-parallel executor trains this way)."""
    copies = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        copies.append(HTNet(TINY, 3))
    params = {k: torch.stack([dict(c.named_parameters())[k].detach() for c in copies]).requires_grad_()
              for k, _ in copies[0].named_parameters()}
    x = torch.rand(2, 6, 3, 28, 28) * 255
    y = torch.tensor([[0, 1, 2, 0, 1, 2], [2, 2, 1, 1, 0, 0]])
    base = copies[0]

    def loss_and_logits(p, xb, yb):
        logits = torch.func.functional_call(base, p, (xb,))
        return F.cross_entropy(logits, yb), logits

    base.train()
    losses, logits = torch.vmap(loss_and_logits, randomness="error")(params, x, y)
    losses.sum().backward()
    for i, model in enumerate(copies):
        model.train()
        own = model(x[i])
        torch.testing.assert_close(logits[i], own, rtol=1e-4, atol=1e-4)
        F.cross_entropy(own, y[i]).backward()
        for name, p in model.named_parameters():
            torch.testing.assert_close(params[name].grad[i], p.grad, rtol=1e-3, atol=1e-5)
    assert not torch.allclose(logits[0], logits[1])


# ---------------------------------------------------------------- region tiling

# Centres (x, y) chosen so that no two windows coincide.
POINTS = _points((9, 10), (20, 11), (15, 16), (11, 20), (19, 21))


@pytest.mark.parametrize("point, tile", [
    (0, (slice(0, 14), slice(0, 14))),     # left eye -> top left
    (3, (slice(0, 14), slice(14, 28))),    # left mouth corner -> top right
    (1, (slice(14, 28), slice(0, 14))),    # right eye -> bottom left
    (4, (slice(14, 28), slice(14, 28))),   # right mouth corner -> bottom right
])
def test_region_with_energy_lands_in_its_tile(point: int, tile: tuple[slice, slice]) -> None:
    x, y = POINTS[0, point].astype(int)
    flow = np.zeros((1, 3, 28, 28), np.float32)
    flow[0, :, y - 1:y + 1, x - 1:x + 1] = 200.0  # energy only at this region's centre
    out = prepare_inputs(_arrays(flow, POINTS))
    assert out.shape == (1, 3, 28, 28) and out.dtype == np.float32
    rows, cols = tile
    inside = out[0, :, rows, cols]
    assert inside.sum() == out.sum() == pytest.approx(200.0 * 3 * 4)  # no other window sees it
    # the marker sits at the centre of its window: rows 6..7, cols 6..7 of the tile
    assert (inside[:, 6:8, 6:8] == 200.0).all()


def test_left_mouth_window_only_fills_top_right_tile() -> None:
    """A flow whose energy lies only inside the left-mouth window (and outside the others)."""
    points = _points((8, 8), (20, 8), (14, 14), (8, 20), (20, 20))
    flow = np.zeros((1, 3, 28, 28), np.float32)
    # rows 21..26 (y) and cols 1..6 (x): inside left-mouth window rows 13..26, cols 1..14 only
    flow[0, 0, 21:27, 1:7] = 50.0
    flow[0, 2, 21:27, 1:7] = 7.0
    out = tile_regions(flow, points)
    energy = {name: float(np.abs(out[0, :, r, c]).sum()) for name, (r, c) in {
        "left_eye": (slice(0, 14), slice(0, 14)), "left_mouth": (slice(0, 14), slice(14, 28)),
        "right_eye": (slice(14, 28), slice(0, 14)), "right_mouth": (slice(14, 28), slice(14, 28)),
    }.items()}
    assert energy == {"left_eye": 0.0, "left_mouth": 36 * 57.0, "right_eye": 0.0, "right_mouth": 0.0}
    # rows indexed by y: flow row 21 is window row 21 - (20 - 7) = 8; col 1 -> 1 - (8 - 7) = 0
    assert out[0, 0, 8, 14] == 50.0 and out[0, 0, 7, 14] == 0.0 and out[0, 0, 8, 14 + 6] == 0.0


def test_rows_follow_y_not_x() -> None:
    """A window centred at (x=10, y=18) must be flow rows 11..24, columns 3..16."""
    flow = np.arange(3 * 28 * 28, dtype=np.float32).reshape(1, 3, 28, 28)
    points = _points((10, 18), (20, 10), (14, 14), (10, 18), (20, 20))
    out = tile_regions(flow, points)
    np.testing.assert_array_equal(out[0, :, :14, :14], flow[0, :, 11:25, 3:17])
    np.testing.assert_array_equal(out[0, :, :14, 14:], flow[0, :, 11:25, 3:17])
    np.testing.assert_array_equal(out[0, :, 14:, :14], flow[0, :, 3:17, 13:27])


def test_points_are_clamped_to_7_21_and_truncated() -> None:
    flow = np.random.default_rng(0).uniform(0, 255, (1, 3, 28, 28)).astype(np.float32)
    points = _points((-5.0, 0.5), (40.0, 3.2), (14, 14), (2.0, 27.9), (21.9, 21.99))
    np.testing.assert_array_equal(window_centres(points)[0], [[7, 7], [7, 21], [21, 7], [21, 21]])
    out = tile_regions(flow, points)
    np.testing.assert_array_equal(out[0, :, :14, :14], flow[0, :, 0:14, 0:14])     # left eye
    np.testing.assert_array_equal(out[0, :, :14, 14:], flow[0, :, 14:28, 0:14])    # left mouth
    np.testing.assert_array_equal(out[0, :, 14:, :14], flow[0, :, 0:14, 14:28])    # right eye
    np.testing.assert_array_equal(out[0, :, 14:, 14:], flow[0, :, 14:28, 14:28])   # right mouth


def test_fallback_points_windows_and_model_run() -> None:
    rng = np.random.default_rng(3)
    flow = rng.uniform(0, 255, (4, 3, 28, 28)).astype(np.float32)
    points = np.repeat(FALLBACK_POINTS[None], 4, axis=0)
    np.testing.assert_array_equal(window_centres(points)[0], [[9, 11], [10, 21], [21, 10], [20, 21]])
    out = prepare_inputs(_arrays(flow, points, fallback=True))
    np.testing.assert_array_equal(out[:, :, :14, :14], flow[:, :, 4:18, 2:16])     # eye (9, 11)
    np.testing.assert_array_equal(out[:, :, 14:, 14:], flow[:, :, 14:28, 13:27])   # mouth (20, 22)
    logits = HTNet(TINY, 3)(torch.from_numpy(out))
    assert logits.shape == (4, 3) and torch.isfinite(logits).all()


def test_vectorised_tiling_equals_per_sample_loop() -> None:
    rng = np.random.default_rng(4)
    n = 16
    flow = rng.uniform(0, 255, (n, 3, 28, 28)).astype(np.float32)
    points = rng.uniform(0, 28, (n, 5, 2)).astype(np.float32)
    out = tile_regions(flow, points)
    for i in range(n):
        crops = []
        for j in (0, 3, 1, 4):
            x, y = (int(v) for v in np.clip(points[i, j], 7, 21))
            crops.append(flow[i, :, y - 7:y + 7, x - 7:x + 7])
        expected = np.concatenate([np.concatenate(crops[:2], -1), np.concatenate(crops[2:], -1)], -2)
        np.testing.assert_array_equal(out[i], expected)


# ---------------------------------------------------------------- registered cards

@pytest.mark.parametrize("name", HTNET_NAMES[1:])
def test_variant_cards_declare_their_exact_parameter_count(name: str) -> None:
    spec = registry.get_model(name)
    assert count_parameters(spec.build(3)) == spec.card.num_params


def test_paper_card() -> None:
    card = registry.get_model("htnet").card
    assert card.num_params == 139_582_982
    assert (card.year, card.view, card.framework) == (2024, "flow28", "torch")
    assert "Wang et al." in card.reference and "Neurocomputing" in card.reference
    r = card.recipe
    assert (r.optimizer, r.lr, r.batch_size, r.epochs, r.weight_decay) == ("adam", 5e-5, 256, 800, 0.0)
    assert card.published["composite_uf1"] == "0.8603" and card.published["composite_uar"] == "0.8475"
    assert card.published["casme2_uf1"] == "0.9532" and card.published["samm_uar"] == "0.8124"
    assert card.published["smic_uf1"] == "0.8049" and card.published["selection"] == "best-on-test"
    for phrase in ("lr 5e-5", "800 epochs", "held-out subject", "one token", "aggregation convolutions"):
        assert phrase in card.notes


@pytest.mark.parametrize("name", HTNET_NAMES)
def test_specs_build_fresh_models_and_prepare_inputs(name: str) -> None:
    spec = registry.get_model(name)
    assert spec.card.name == name and spec.prepare_inputs is not None
    if name != "htnet":  # the paper model is built once, in the fixture above
        a, b = spec.build(3), spec.build(3)
        assert a is not b
        assert not torch.equal(a.to_patch_embedding.weight, b.to_patch_embedding.weight)
    flow = np.full((2, 3, 28, 28), 128.0, np.float32)
    out = spec.prepare_inputs(_arrays(flow, np.repeat(FALLBACK_POINTS[None], 2, 0)))
    assert out.shape == (2, 3, 28, 28) and out.dtype == np.float32 and (out == 128.0).all()
