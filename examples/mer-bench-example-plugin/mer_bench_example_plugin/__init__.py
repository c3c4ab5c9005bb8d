"""An example mer-bench plugin: a two-layer CNN on the flow28 input (strain, v, u at 28x28).

mer-bench finds it through the `mer_bench.models` entry point in this package's pyproject.toml;
nothing in mer-bench names it. The engine owns training (optimizer and epochs from the card's
recipe, cross-entropy, batches, seeds, LOSO folds, storage); the model only maps inputs to logits.
"""

from __future__ import annotations

import torch
from torch import nn

from mer_bench.core.cards import ModelCard, ModelSpec, Recipe


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
    view="flow28",
    num_params=5_187,  # exact count for 3 classes; the plugin's test checks it
    recipe=Recipe(optimizer="adam", lr=1e-3, batch_size=64, epochs=20, weight_decay=0.0),
    framework="torch",
    notes="Inputs mapped to [-1, 1] inside the model. Recipe chosen for the example, not tuned.",
)

spec = ModelSpec(card=card, build=build)


# -- a second model, on another view: 4 aligned frames of the clip ---------------------------------
class TinyClipNet(nn.Module):
    """(B, T, 1, 64, 64) uint8 grey frames -> per-frame 2-D conv features -> mean over time ->
    the change between the last and first frame's features -> Linear."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, kernel_size=5, stride=2, padding=2)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.head = nn.Linear(2 * 8 * 4 * 4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        frames = x.flatten(0, 1) / 127.5 - 1.0  # (B*T, 1, 64, 64)
        feats = self.pool(torch.relu(self.conv(frames))).flatten(1)  # (B*T, 128)
        feats = feats.reshape(b, t, -1)
        return self.head(torch.cat([feats.mean(1), feats[:, -1] - feats[:, 0]], dim=1))


clip_card = ModelCard(
    name="example-clip",  # must equal the entry-point name
    description="Example plugin: a tiny per-frame CNN on 4-frame 64 px grey clips.",
    reference="mer-bench example plugin (no paper)",
    year=2026,
    view="clip",  # what it consumes, and the view's parameters (see `mer-bench list views`)
    view_params={"length": 4, "size": 64, "span": "offset", "color": "grey"},
    num_params=979,
    recipe=Recipe(optimizer="adam", lr=1e-3, batch_size=16, epochs=10, weight_decay=0.0),
    framework="torch",
    notes="Frames arrive as uint8 pixels; mapped to [-1, 1] inside the model. Not tuned.",
)

clip_spec = ModelSpec(card=clip_card, build=TinyClipNet)
