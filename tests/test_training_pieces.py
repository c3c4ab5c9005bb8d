"""Training pieces a recipe declares from registries: the loss (cross-entropy, class-weighted
cross-entropy, focal) and train-time augmentations (a flip that keeps regions consistent, small
shifts). Both enter the run identity only when they differ from the defaults, so runs made before
them keep their identity (and, with test_preserved, their predictions)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import tiny_spec

from mer_bench.core.cards import Augment, Recipe
from mer_bench.core.identity import RunIdentity
from mer_bench.run.training import TrainJob
from mer_bench.run.training.augment import HorizontalFlip, SmallShift, make_augmenter
from mer_bench.run.training.losses import balanced_weights, make_loss
from mer_bench.run.training.trainer import TorchTrainer

OLD_RECIPE_KEYS = {
    "optimizer",
    "lr",
    "batch_size",
    "epochs",
    "weight_decay",
    "betas",
    "eps",
    "momentum",
    "optimizer_impl",
}


def _identity(recipe: Recipe) -> RunIdentity:
    return RunIdentity(model="m", protocol="p", source="demo", recipe=recipe.as_dict())


def test_defaults_keep_the_stored_recipe_and_identity_others_change_it():
    assert set(Recipe().as_dict()) == OLD_RECIPE_KEYS
    weighted = Recipe(loss="class-weighted-cross-entropy")
    flipped = Recipe(augment=("hflip",))
    assert weighted.as_dict()["loss"] == "class-weighted-cross-entropy"
    assert flipped.as_dict()["augment"] == [{"name": "hflip", "options": {}}]
    hashes = {_identity(r).config_hash for r in (Recipe(), weighted, flipped)}
    assert len(hashes) == 3
    assert Recipe.from_dict(flipped.as_dict()) == flipped
    assert Recipe.from_dict(Recipe(augment=(("shift", {"max_pixels": 1}),)).as_dict()).augment == (
        Augment("shift", (("max_pixels", 1),)),
    )


def test_balanced_weights_make_each_class_weigh_alike():
    counts = np.array([250, 109, 83])
    w = balanced_weights(counts)
    assert np.allclose(w * counts, counts.sum() / 3) and np.isclose((w * counts).sum(), 442)
    assert balanced_weights(np.array([4, 0, 2])).tolist() == [0.75, 0.0, 1.5]


def test_losses_per_row():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    y = torch.tensor([0, 1])
    ce = torch.nn.functional.cross_entropy(logits, y, reduction="none")
    plain = make_loss("cross-entropy", np.array([0, 0, 1]), 3)
    assert torch.equal(plain.mean(logits, y), torch.nn.CrossEntropyLoss()(logits, y))
    weighted = make_loss(
        "class-weighted-cross-entropy", np.array([0, 0, 0, 1]), 3
    )  # 3 of 0, 1 of 1
    assert torch.allclose(weighted.rows(logits, y), torch.tensor([2 / 3, 2.0]) * ce)
    focal = make_loss("focal", np.array([0, 1]), 3)
    p = torch.softmax(logits, 1)[[0, 1], y]
    assert torch.allclose(focal.rows(logits, y), (1 - p) ** 2 * ce)


def _imbalanced(n: int = 96, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.where(rng.random(n) < 0.75, 0, rng.integers(1, 3, n)).astype(np.int64)
    x = rng.normal(0, 40, (n, 3, 28, 28)).astype(np.float32) + 128
    x[:, 0] += labels[:, None, None] * 6.0  # a weak signal of the class
    return x, labels


def _train(recipe: Recipe, stacked: bool = False, jobs: int = 1):
    x, labels = _imbalanced()
    rows = np.arange(len(labels))
    todo = [
        TrainJob(k, f"j{k}", 7 + k, recipe, rows[:80], predict_rows=rows[80:]) for k in range(jobs)
    ]
    torch.manual_seed(0)
    trainer = TorchTrainer(tiny_spec(), 3, torch.device("cpu"))
    return [r.predicted for r in trainer.train(todo, x, [labels] * jobs, stacked=stacked)]


def test_a_class_weighted_run_differs_from_the_default_and_stacks_alike(one_thread):
    base = Recipe(optimizer="adam", lr=1e-2, batch_size=32, epochs=3)
    (default,) = _train(base)
    (again,) = _train(base)
    (weighted,) = _train(dataclasses.replace(base, loss="class-weighted-cross-entropy"))
    assert np.array_equal(default, again)
    assert np.abs(weighted - default).max() > 1e-3
    # fold-parallel trains each model with its own job's loss: as the one-model path does
    stacked = _train(
        dataclasses.replace(base, loss="class-weighted-cross-entropy"), stacked=True, jobs=2
    )
    assert np.abs(stacked[0] - weighted).max() < 1e-4


def test_augmented_training_is_reproducible_and_differs(one_thread):
    base = Recipe(optimizer="adam", lr=1e-2, batch_size=32, epochs=2)
    aug = dataclasses.replace(base, augment=("hflip", ("shift", {"max_pixels": 1})))
    (a,), (b,), (plain,) = _train(aug), _train(aug), _train(base)
    assert np.array_equal(a, b) and np.abs(a - plain).max() > 1e-4
    stacked = _train(aug, stacked=True, jobs=2)
    assert np.abs(stacked[0] - a).max() < 1e-4


def test_flip_keeps_regions_consistent():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    full = HorizontalFlip(p=1).mirror(x)
    assert torch.equal(full, x.flip(-1))
    # left eye | right eye over left mouth | right mouth: mirrored windows trade columns = a flip
    assert torch.equal(HorizontalFlip(p=1, grid=(2, 2)).mirror(x), full)
    # left regions in the top row (the reference's transposed crop): rows trade places
    rows = HorizontalFlip(p=1, grid=(2, 2), swap="rows").mirror(x)
    assert torch.equal(rows[..., :2, :2], x[..., 2:, :2].flip(-1))
    assert torch.equal(rows[..., 2:, 2:], x[..., :2, 2:].flip(-1))
    # the horizontal flow u (channel 2 of flow28) changes sign: 255 - u on the 0-255 scale
    signed = HorizontalFlip(p=1, reflect=(2,), level=127.5).mirror(x)
    assert torch.equal(signed[:, 2], 255 - x[:, 2].flip(-1)) and torch.equal(
        signed[:, :2], full[:, :2]
    )
    assert torch.equal(HorizontalFlip(p=0)(x, torch.Generator().manual_seed(0)), x)


def test_shift_moves_by_whole_pixels_with_edges_repeated():
    x = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4)
    out = SmallShift(max_pixels=1)(x, torch.Generator().manual_seed(3))
    assert out.shape == x.shape
    found = [
        (dy, dx)
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
        if torch.equal(out[0, 0, 1:3, 1:3], x[0, 0, 1 + dy : 3 + dy, 1 + dx : 3 + dx])
    ]
    assert found
    one, two = make_augmenter([Augment("shift")], 5), make_augmenter([Augment("shift")], 5)
    batch = torch.rand(4, 3, 8, 8)
    assert torch.equal(one(batch), two(batch))
    assert make_augmenter([], 5) is None


def test_unknown_pieces_are_named():
    from mer_bench.core.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="did you mean focal"):
        make_loss("focla", np.array([0]), 2)
    with pytest.raises(UnknownNameError, match="did you mean hflip"):
        make_augmenter([Augment("hfilp")], 0)
