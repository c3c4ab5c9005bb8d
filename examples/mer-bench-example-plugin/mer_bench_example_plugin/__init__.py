"""An example mer-bench plugin: a two-layer CNN on the flow28 input (strain, v, u at 28x28).

mer-bench finds it through the `mer_bench.models` entry point in this package's pyproject.toml;
nothing in mer-bench names it. The engine owns training (optimizer and epochs from the card's
recipe, cross-entropy, batches, seeds, LOSO folds, storage); the model only maps inputs to logits.
"""

from __future__ import annotations

import torch
from torch import nn

from mer_bench.cards import ModelCard, ModelSpec, Recipe


class TwoLayerCNN(nn.Module):
    """conv 3x3 (16) -> ReLU -> max-pool 2 -> conv 3x3 (32) -> ReLU -> global avg pool -> Linear."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - 127.5) / 127.5  # flow28 arrives on the 0-255 scale of flow images
        x = self.pool(torch.relu(self.conv1(x)))
        x = torch.relu(self.conv2(x)).mean(dim=(2, 3))
        return self.head(x)


def build(num_classes: int) -> TwoLayerCNN:
    """A fresh, randomly initialised model; the engine calls this once per fold."""
    return TwoLayerCNN(num_classes)


card = ModelCard(
    name="example-cnn",  # must equal the entry-point name
    description="Example plugin: a two-layer CNN on 28x28 flow (strain, v, u).",
    reference="mer-bench example plugin (no paper)",
    year=2025,
    input_kind="flow28",
    num_params=5_187,  # exact count for 3 classes; the plugin's test checks it
    recipe=Recipe(optimizer="adam", lr=1e-3, batch_size=64, epochs=20, weight_decay=0.0),
    framework="torch",
    notes="Inputs mapped to [-1, 1] inside the model. Recipe chosen for the example, not tuned.",
)

spec = ModelSpec(card=card, build=build)
