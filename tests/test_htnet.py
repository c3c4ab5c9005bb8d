"""HTNet: exact parameter counts, region tiling (both placements), single-token attention, the
fast path against the paper formulation, vmap, registered cards."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from mer_bench.core import registry
from mer_bench.data.contract import FALLBACK_POINTS, InputArrays
from mer_bench_htnet.model import Attention, HTNet, HTNetConfig, count_parameters
from mer_bench_htnet.cards import PAPER_CONFIG
from mer_bench_htnet.regions import (
    PLACEMENTS,
    RegionTiling,
    prepare_inputs,
    tile_regions,
    window_centres,
    window_origins,
)

torch.set_num_threads(1)

HTNET_NAMES = ("htnet", "htnet-refcrop", "htnet-small", "htnet-tiny")
PAPER_NAMES = ("htnet", "htnet-refcrop")
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
    hooks = [
        m.register_forward_hook(lambda mod, inp, out: seen.append((mod, inp[0], out)))
        for m in paper_model.modules()
        if isinstance(m, Attention)
    ]
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
    """The paper's formulation on (B, C, H, W) maps from the same parameters: true 1x1 and 3x3
    convolutions, an explicit channel LayerNorm, and full attention (queries, keys, softmax) even
    where a block holds one token. These are the maths of the implementation before its CPU speed
    work (channels-last matrix products, value-only attention at one token, 3x3 convolutions as
    one matrix product): the fast path must match it in outputs and gradients."""

    def norm(ln, x):
        var = torch.var(x, dim=1, unbiased=False, keepdim=True)
        return (x - x.mean(1, keepdim=True)) / torch.sqrt(var + ln.eps) * ln.g + ln.b

    def conv(c, x):
        return F.conv2d(x, c.weight, c.bias)

    p = model.config.patch_size
    x = conv(
        model.to_patch_embedding, rearrange(img, "b c (h p1) (w p2) -> b (p1 p2 c) h w", p1=p, p2=p)
    )
    for level in model.levels:
        n, tr = level.blocks, level.transformer
        x = rearrange(x, "b c (b1 h) (b2 w) -> (b b1 b2) c h w", b1=n, b2=n)
        h, w = x.shape[-2:]
        x = x + tr.pos_emb[: h * w].reshape(1, 1, h, w)
        for attn, ff in tr.layers:
            q, k, v = conv(attn.to_qkv, norm(attn.norm, x)).chunk(3, dim=1)
            q, k, v = (rearrange(t, "b (h d) x y -> b h (x y) d", h=attn.heads) for t in (q, k, v))
            a = torch.softmax(torch.einsum("bhid,bhjd->bhij", q, k) * attn.scale, dim=-1)
            o = rearrange(
                torch.einsum("bhij,bhjd->bhid", a, v), "b h (x y) d -> b (h d) x y", x=h, y=w
            )
            x = conv(attn.to_out[0], o) + x
            ln, c1, _, _, c2, _ = ff.net
            x = conv(c2, F.gelu(conv(c1, norm(ln, x)))) + x
        x = rearrange(x, "(b b1 b2) c h w -> b c (b1 h) (b2 w)", b1=n, b2=n)
        if not isinstance(level.aggregate, torch.nn.Identity):
            agg = level.aggregate
            x = F.conv2d(x, agg.conv.weight, agg.conv.bias, padding=1)
            x = F.max_pool2d(norm(agg.norm, x), 3, stride=2, padding=1)
    ln, linear = model.head
    return linear(norm(ln, x).mean(dim=(2, 3)))


@pytest.mark.parametrize("image_size", [28, 56])
def test_fast_path_equals_nchw_conv_formulation(image_size: int) -> None:
    torch.manual_seed(1)
    model = HTNet(HTNetConfig(image_size=image_size, dim=24, block_repeats=(1, 2, 1)), 3)
    img = torch.rand(4, 3, image_size, image_size) * 255
    with torch.no_grad():
        torch.testing.assert_close(model(img), _reference_forward(model, img), rtol=1e-4, atol=1e-4)


def _assert_relative_close(actual: torch.Tensor, expected: torch.Tensor, rtol: float) -> None:
    """Max abs difference within `rtol` of the expected tensor's largest magnitude."""
    scale = expected.abs().max().clamp_min(1e-30)
    assert ((actual - expected).abs().max() / scale).item() <= rtol


def test_paper_configuration_outputs_and_gradients_equal_reference(paper_model: HTNet) -> None:
    """At 139,582,982 parameters, float32: logits within 1e-5 and every gradient within 1e-4 of
    the reference formulation (relative to the tensor's largest entry); the query and key rows of
    every to_qkv get exactly zero gradient in both (a one-element softmax passes none back)."""
    torch.manual_seed(2)
    img = torch.rand(6, 3, 28, 28) * 255
    labels = torch.tensor([0, 1, 2, 2, 1, 0])
    params = [p for _, p in paper_model.named_parameters()]
    fast = paper_model(img)
    ref = _reference_forward(paper_model, img)
    _assert_relative_close(fast.detach(), ref.detach(), 1e-5)
    fast_grads = torch.autograd.grad(F.cross_entropy(fast, labels), params)
    ref_grads = torch.autograd.grad(F.cross_entropy(ref, labels), params)
    largest = max(g.abs().max() for g in ref_grads)
    last_pos_emb = f"levels.{len(paper_model.levels) - 1}.transformer.pos_emb"
    for (name, _), g_fast, g_ref in zip(paper_model.named_parameters(), fast_grads, ref_grads):
        if name == last_pos_emb:
            # Its true gradient is 0: the last level adds it to every channel of its one token,
            # and the pre-norm layers and the head's LayerNorm remove a constant shift. Both
            # implementations give rounding noise.
            assert max(g_fast.abs().max(), g_ref.abs().max()) < 1e-5 * largest
            continue
        if name.endswith("to_qkv.weight"):
            qk_rows = 2 * (g_fast.shape[0] // 3)
            assert not g_fast[:qk_rows].any() and not g_ref[:qk_rows].any(), name
            assert g_fast[qk_rows:].any(), name
        _assert_relative_close(g_fast, g_ref, 1e-4)


def test_vmap_functional_call_matches_each_copy() -> None:
    """Two independently initialised copies, stacked and vmapped, give each copy's own logits
    and gradients (the fold-parallel executor trains this way)."""
    copies = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        copies.append(HTNet(TINY, 3))
    params = {
        k: torch.stack([dict(c.named_parameters())[k].detach() for c in copies]).requires_grad_()
        for k, _ in copies[0].named_parameters()
    }
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


@pytest.mark.parametrize(
    "point, tile",
    [
        (0, (slice(0, 14), slice(0, 14))),  # left eye -> top left
        (3, (slice(0, 14), slice(14, 28))),  # left mouth corner -> top right
        (1, (slice(14, 28), slice(0, 14))),  # right eye -> bottom left
        (4, (slice(14, 28), slice(14, 28))),  # right mouth corner -> bottom right
    ],
)
def test_region_with_energy_lands_in_its_tile(point: int, tile: tuple[slice, slice]) -> None:
    x, y = POINTS[0, point].astype(int)
    flow = np.zeros((1, 3, 28, 28), np.float32)
    flow[0, :, y - 1 : y + 1, x - 1 : x + 1] = 200.0  # energy only at this region's centre
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
    energy = {
        name: float(np.abs(out[0, :, r, c]).sum())
        for name, (r, c) in {
            "left_eye": (slice(0, 14), slice(0, 14)),
            "left_mouth": (slice(0, 14), slice(14, 28)),
            "right_eye": (slice(14, 28), slice(0, 14)),
            "right_mouth": (slice(14, 28), slice(14, 28)),
        }.items()
    }
    assert energy == {
        "left_eye": 0.0,
        "left_mouth": 36 * 57.0,
        "right_eye": 0.0,
        "right_mouth": 0.0,
    }
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
    np.testing.assert_array_equal(out[0, :, :14, :14], flow[0, :, 0:14, 0:14])  # left eye
    np.testing.assert_array_equal(out[0, :, :14, 14:], flow[0, :, 14:28, 0:14])  # left mouth
    np.testing.assert_array_equal(out[0, :, 14:, :14], flow[0, :, 0:14, 14:28])  # right eye
    np.testing.assert_array_equal(out[0, :, 14:, 14:], flow[0, :, 14:28, 14:28])  # right mouth


def test_fallback_points_windows_and_model_run() -> None:
    rng = np.random.default_rng(3)
    flow = rng.uniform(0, 255, (4, 3, 28, 28)).astype(np.float32)
    points = np.repeat(FALLBACK_POINTS[None], 4, axis=0)
    np.testing.assert_array_equal(
        window_centres(points)[0], [[9, 11], [10, 21], [21, 10], [20, 21]]
    )
    out = prepare_inputs(_arrays(flow, points, fallback=True))
    np.testing.assert_array_equal(out[:, :, :14, :14], flow[:, :, 4:18, 2:16])  # eye (9, 11)
    np.testing.assert_array_equal(out[:, :, 14:, 14:], flow[:, :, 14:28, 13:27])  # mouth (20, 22)
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
            crops.append(flow[i, :, y - 7 : y + 7, x - 7 : x + 7])
        expected = np.concatenate(
            [np.concatenate(crops[:2], -1), np.concatenate(crops[2:], -1)], -2
        )
        np.testing.assert_array_equal(out[i], expected)


# Five points with x != y, fractional parts to truncate, the mouth corners' y clamped to 21.
ASYMMETRIC = _points((9.6, 11.2), (20.7, 10.4), (15.0, 17.0), (10.2, 22.9), (19.5, 21.3))
#: For ASYMMETRIC: the (first row, first col) of the flow pixels each tile holds, per placement,
#: tiles in reading order (top-left, top-right, bottom-left, bottom-right).
EXPECTED_WINDOWS = {
    # centred on the points: rows from y, cols from x; left eye, left mouth | right eye, right mouth
    "points": [(11 - 7, 9 - 7), (21 - 7, 10 - 7), (10 - 7, 20 - 7), (21 - 7, 19 - 7)],
    # the reference: rows from x, cols from y; points 0, 1 | 3, 4 = left eye, right eye | mouths
    "reference-transposed": [(9 - 7, 11 - 7), (20 - 7, 10 - 7), (10 - 7, 21 - 7), (19 - 7, 21 - 7)],
}
TILE_CORNERS = [(0, 0), (0, 14), (14, 0), (14, 14)]


def _coded_flow() -> np.ndarray:
    """A (1, 3, 28, 28) flow whose value encodes its pixel: 1000 * channel + 28 * row + col."""
    c, r, k = np.meshgrid(np.arange(3), np.arange(28), np.arange(28), indexing="ij")
    return (1000 * c + 28 * r + k)[None].astype(np.float32)


def _decode(tiled: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    channel, pixel = np.divmod(tiled.astype(np.int64), 1000)
    row, col = np.divmod(pixel, 28)
    return channel, row, col


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_placement_cuts_exactly_these_windows(placement: str) -> None:
    """Each tile is one unflipped 14x14 block of flow pixels, starting where the placement says."""
    out = RegionTiling(placement)(_arrays(_coded_flow(), ASYMMETRIC))
    assert out.shape == (1, 3, 28, 28) and out.dtype == np.float32
    channel, row, col = _decode(out[0])
    assert (channel == np.arange(3)[:, None, None]).all()
    offsets = np.arange(14)
    for (r0, c0), (tr, tc) in zip(EXPECTED_WINDOWS[placement], TILE_CORNERS):
        tile = (slice(None), slice(tr, tr + 14), slice(tc, tc + 14))
        np.testing.assert_array_equal(
            row[tile], np.broadcast_to((r0 + offsets)[None, :, None], (3, 14, 14))
        )
        np.testing.assert_array_equal(
            col[tile], np.broadcast_to((c0 + offsets)[None, None, :], (3, 14, 14))
        )
    np.testing.assert_array_equal(
        window_origins(ASYMMETRIC, placement)[0], EXPECTED_WINDOWS[placement]
    )


def test_reference_placement_equals_the_reference_slicing() -> None:
    """The reference's own steps on an (H, W, C) image: clamp each coordinate to [7, 21],
    astype(int), window img[p[0]-7:p[0]+7, p[1]-7:p[1]+7], hconcat(0, 1) over hconcat(3, 4)."""
    rng = np.random.default_rng(5)
    flow = rng.uniform(0, 255, (8, 3, 28, 28)).astype(np.float32)
    points = rng.uniform(-3, 31, (8, 5, 2)).astype(np.float32)  # many clamped on both sides
    out = RegionTiling("reference-transposed")(_arrays(flow, points))
    for i in range(8):
        image = flow[i].transpose(1, 2, 0)  # as cv2 reads it: (H, W, C)
        p = np.clip(points[i].astype(np.float64), 7, 21).astype(int)
        part = [image[q[0] - 7 : q[0] + 7, q[1] - 7 : q[1] + 7] for q in p]
        tiled = np.concatenate(
            [
                np.concatenate([part[0], part[1]], axis=1),
                np.concatenate([part[3], part[4]], axis=1),
            ],
            axis=0,
        )
        np.testing.assert_array_equal(out[i], tiled.transpose(2, 0, 1))


def test_reference_placement_clamps_then_truncates() -> None:
    points = _points((3.5, 25.0), (21.99, 6.99), (15, 15), (7.99, 20.99), (30.0, -4.0))
    np.testing.assert_array_equal(
        window_centres(points, "reference-transposed")[0], [[7, 21], [21, 7], [7, 20], [21, 7]]
    )
    # rows from x, cols from y: (x=7, y=21) -> rows 0..13, cols 14..27
    np.testing.assert_array_equal(
        window_origins(points, "reference-transposed")[0], [[0, 14], [14, 0], [0, 13], [14, 0]]
    )


def test_placements_agree_only_where_transposition_and_tile_order_cancel() -> None:
    """With every point on the diagonal (x == y) transposing changes nothing, so the two
    placements differ only in the tile order: the reference's top right is the right eye."""
    flow = _coded_flow()
    points = _points((9, 9), (20, 20), (15, 15), (11, 11), (18, 18))
    ours = tile_regions(flow, points, "points")
    ref = tile_regions(flow, points, "reference-transposed")
    np.testing.assert_array_equal(ref[0, :, :14, :14], ours[0, :, :14, :14])  # left eye
    np.testing.assert_array_equal(ref[0, :, :14, 14:], ours[0, :, 14:, :14])  # right eye
    np.testing.assert_array_equal(ref[0, :, 14:, :14], ours[0, :, :14, 14:])  # left mouth
    np.testing.assert_array_equal(ref[0, :, 14:, 14:], ours[0, :, 14:, 14:])  # right mouth


def test_unknown_placement_is_refused() -> None:
    with pytest.raises(ValueError, match="placement"):
        RegionTiling("transposed")
    with pytest.raises(ValueError, match="placement"):
        tile_regions(_coded_flow(), ASYMMETRIC, "rows-by-x")


# ---------------------------------------------------------------- registered cards


@pytest.mark.parametrize("name", HTNET_NAMES[1:])
def test_variant_cards_declare_their_exact_parameter_count(name: str) -> None:
    spec = registry.get_model(name)
    assert count_parameters(spec.build(3)) == spec.card.num_params


@pytest.mark.parametrize("name", PAPER_NAMES)
def test_paper_cards(name: str) -> None:
    spec = registry.get_model(name)
    card = spec.card
    assert card.num_params == 139_582_982
    assert spec.build.config == PAPER_CONFIG == HTNetConfig()  # the network the fixture counts
    assert (card.year, card.view, card.framework) == (2024, "flow28", "torch")
    assert "Wang et al." in card.reference and "Neurocomputing" in card.reference
    r = card.recipe
    assert (r.optimizer, r.lr, r.batch_size, r.epochs, r.weight_decay) == (
        "adam",
        5e-5,
        256,
        800,
        0.0,
    )
    assert (
        card.published["composite_uf1"] == "0.8603" and card.published["composite_uar"] == "0.8475"
    )
    assert card.published["casme2_uf1"] == "0.9532" and card.published["samm_uar"] == "0.8124"
    assert card.published["smic_uf1"] == "0.8049" and card.published["selection"] == "best-on-test"
    for phrase in (
        "lr 5e-5",
        "800 epochs",
        "held-out subject",
        "one token",
        "aggregation convolutions",
    ):
        assert phrase in card.notes


def test_refcrop_is_htnet_with_the_reference_placement() -> None:
    htnet, refcrop = registry.get_model("htnet"), registry.get_model("htnet-refcrop")
    assert refcrop.card.name == "htnet-refcrop"
    assert refcrop.card.recipe == htnet.card.recipe and refcrop.build == htnet.build
    assert htnet.prepare_inputs == RegionTiling("points")
    assert refcrop.prepare_inputs == RegionTiling("reference-transposed")
    assert pickle.loads(pickle.dumps(refcrop.prepare_inputs)) == refcrop.prepare_inputs
    assert "htnet-refcrop" in htnet.card.notes and "transposes the points" in htnet.card.notes
    for phrase in (
        "reference-transposed",
        "flow[x-7:x+7, y-7:y+7]",
        "points 0, 1 | 3, 4",
        "clamped to [7, 21], then truncated",
        "Model htnet cuts the windows centred",
    ):
        assert phrase in refcrop.card.notes
    arrays = _arrays(_coded_flow(), ASYMMETRIC)
    np.testing.assert_array_equal(
        refcrop.prepare_inputs(arrays),
        tile_regions(arrays.flow, arrays.points, "reference-transposed"),
    )
    assert not np.array_equal(refcrop.prepare_inputs(arrays), htnet.prepare_inputs(arrays))


@pytest.mark.parametrize("name", HTNET_NAMES)
def test_specs_build_fresh_models_and_prepare_inputs(name: str) -> None:
    spec = registry.get_model(name)
    assert spec.card.name == name and spec.prepare_inputs is not None
    if name not in PAPER_NAMES:  # the paper network is built once, in the fixture above
        a, b = spec.build(3), spec.build(3)
        assert a is not b
        assert not torch.equal(a.to_patch_embedding.weight, b.to_patch_embedding.weight)
    flow = np.full((2, 3, 28, 28), 128.0, np.float32)
    out = spec.prepare_inputs(_arrays(flow, np.repeat(FALLBACK_POINTS[None], 2, 0)))
    assert out.shape == (2, 3, 28, 28) and out.dtype == np.float32 and (out == 128.0).all()
