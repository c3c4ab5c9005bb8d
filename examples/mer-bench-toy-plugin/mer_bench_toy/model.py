"""`toy-net`: a small CNN on the flow28 view, trained with class-weighted cross-entropy and
horizontal flips, both declared in its recipe and found by mer-bench in its registries."""

from __future__ import annotations

import torch
from torch import nn

from mer_bench.core.cards import ModelCard, ModelSpec, Recipe


class ToyNet(nn.Module):
    """conv 3x3 (8) -> ReLU -> global average -> Linear."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, kernel_size=3, padding=1)
        self.head = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - 127.5) / 127.5  # flow28 arrives on the 0-255 scale
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))


card = ModelCard(
    name="toy-net",
    description="Toy plugin: one convolution on 28x28 flow (strain, v, u).",
    reference="mer-bench toy plugin (no paper)",
    year=2026,
    view="flow28",
    num_params=3 * 8 * 9 + 8 + 8 * 3 + 3,
    recipe=Recipe(optimizer="adam", lr=1e-2, batch_size=16, epochs=3,
                  loss="class-weighted-cross-entropy",
                  # flow28 is (strain, v, u) scaled per channel to 0-255: a mirrored face has -u,
                  # which is 255 - u on that scale
                  augment=(("hflip", {"reflect": [2], "level": 127.5}),)),
)

spec = ModelSpec(card=card, build=ToyNet)
