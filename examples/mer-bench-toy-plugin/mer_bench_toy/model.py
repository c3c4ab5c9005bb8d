"""`toy-net`: a small CNN on this package's `apex-difference` view, trained with class-weighted
cross-entropy, horizontal flips and small shifts, all declared in its recipe and found by
mer-bench in its registries."""

from __future__ import annotations

import torch
from torch import nn

from mer_bench.core.cards import ModelCard, ModelSpec, Recipe


class ToyNet(nn.Module):
    """conv 3x3 (8) -> ReLU -> global average -> Linear."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.head = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x / 255.0  # apex minus onset, in [-255, 255]
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))


card = ModelCard(
    name="toy-net",
    description="Toy plugin: one convolution on the apex-minus-onset difference (32 px grey).",
    reference="mer-bench toy plugin (no paper)",
    year=2026,
    view="apex-difference",
    view_params={"size": 32},
    num_params=1 * 8 * 9 + 8 + 8 * 3 + 3,
    recipe=Recipe(
        optimizer="adam",
        lr=1e-2,
        batch_size=16,
        epochs=3,
        loss="class-weighted-cross-entropy",
        # a grey difference mirrors as it is (a flow view would also reflect its u)
        augment=("hflip", ("shift", {"max_pixels": 1})),
    ),
)

spec = ModelSpec(card=card, build=ToyNet)
