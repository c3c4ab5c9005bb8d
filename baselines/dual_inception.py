"""Dual-Inception (Zhou, Mao and Xue, FG 2019, MEGC 2019 cross-database challenge).

Reads top to bottom like the paper's figure:

    horizontal flow u (28x28)                vertical flow v (28x28)
      -> inception module A, 4 branches of 6 maps:   (same layers, own weights)
           1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | max-pool 3x3 -> 1x1      -> 24 x 28 x 28
      -> max-pool 2x2                                                -> 24 x 14 x 14
      -> inception module B, 4 branches of 16 maps                   -> 64 x 14 x 14
      -> max-pool 2x2                                                -> 64 x 7 x 7 = 3136
    concatenate (6272) -> FC 1024, ReLU -> FC classes

Every convolution is followed by a ReLU, as in the authors' Keras code. Strain is not used.
"""

from __future__ import annotations

import torch
from torch import nn

from mer_bench.core.cards import ModelCard, ModelSpec, Recipe
from mer_bench.data.contract import CHANNEL_U, CHANNEL_V
from mer_bench_baselines.layers import Rescale

#: Input channels of flow28 fed to the two streams: u and v.
STREAM_CHANNELS = (CHANNEL_U, CHANNEL_V)


def _conv(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel_size=k, padding=k // 2), nn.ReLU())


class Inception(nn.Module):
    """GoogLeNet-style module with `width` maps per branch; output has 4 * width maps."""

    def __init__(self, cin: int, width: int) -> None:
        super().__init__()
        self.b1 = _conv(cin, width, 1)
        self.b3 = nn.Sequential(_conv(cin, width, 1), _conv(width, width, 3))
        self.b5 = nn.Sequential(_conv(cin, width, 1), _conv(width, width, 5))
        self.bp = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), _conv(cin, width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], dim=1)


class InceptionStream(nn.Module):
    """One stream: inception(6) -> pool 2 -> inception(16) -> pool 2 -> flatten (3136)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = Inception(1, 6)
        self.b = Inception(24, 16)
        self.pool = nn.MaxPool2d(2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.b(self.pool(self.a(x)))), 1)


class DualInception(nn.Module):
    """Two inception streams (u, v) and a 1024-unit classifier; input (B, 3, 28, 28), 0-255."""

    def __init__(self, num_classes: int = 3, hidden: int = 1024) -> None:
        super().__init__()
        self.rescale = Rescale()
        self.streams = nn.ModuleList(InceptionStream() for _ in STREAM_CHANNELS)
        self.classifier = nn.Sequential(
            nn.Linear(2 * 64 * 7 * 7, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.rescale(x)
        feats = [s(x[:, c : c + 1]) for s, c in zip(self.streams, STREAM_CHANNELS)]
        return self.classifier(torch.cat(feats, dim=1))


def build(num_classes: int) -> DualInception:
    """A fresh Dual-Inception network (PyTorch default initialisation)."""
    return DualInception(num_classes)


NOTES = (
    "Architecture from the paper and the authors' Keras code (github.com/xly135846/MEGC2019): "
    "two inception modules per stream (6 then 16 maps per branch), 2x2 max-pooling after each, "
    "FC 1024 and softmax; no BatchNorm, no dropout. "
    "Recipe from that code: Adam lr 1e-4, batch 3, 40 epochs, cross-entropy. What we do not "
    "reproduce: the authors kept the checkpoint with the best loss on validation subjects held "
    "out of the training part (and passed class_weight='auto'); mer-bench trains a fixed number "
    "of epochs on the whole training part. The paper computes flow between the onset and the "
    "middle frame; flow28 holds onset->apex flow. "
    "Input: the Keras code reads each flow component as a 3-channel image; we feed each "
    "component as one channel, so the first convolutions have 1 input channel. flow28 is "
    "mapped to [-1, 1] inside the model ((x - 127.5) / 127.5, fixed Rescale layer). "
    "Strain is ignored."
)

card = ModelCard(
    name="dual-inception",
    description="Dual-Inception: two streams of two inception modules on u and v, then FC 1024.",
    reference="Zhou, Mao, Xue, Dual-Inception Network for Cross-Database Micro-Expression "
    "Recognition, IEEE FG 2019",
    year=2019,
    view="flow28",
    num_params=6_449_867,
    recipe=Recipe(optimizer="adam", lr=1e-4, batch_size=3, epochs=40, weight_decay=0.0),
    framework="torch",
    notes=NOTES,
    published={
        "composite_uf1": "0.7322",
        "composite_uar": "0.7278",
        "smic_uf1": "0.6645",
        "smic_uar": "0.6726",
        "casme2_uf1": "0.8621",
        "casme2_uar": "0.8560",
        "samm_uf1": "0.5868",
        "samm_uar": "0.5663",
        "selection": "best validation-loss checkpoint (validation subjects from the training part)",
    },
)

spec = ModelSpec(card=card, build=build)
