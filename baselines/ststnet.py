"""STSTNet: Shallow Triple Stream Three-dimensional CNN (Liong et al., FG 2019, MEGC 2019).

Reads top to bottom like the paper's figure:

    28x28x3 flow28 input (strain, v, u as mer_bench.data.contract.FLOW28_CHANNELS), raw 0-255 values
      -> three parallel streams over all 3 channels, each:
         3x3 conv (3, 5 or 8 filters, "same") -> ReLU -> BatchNorm -> MaxPool 3x3 stride 3 -> Dropout
      -> concatenate the streams: 16 maps of 10x10
      -> AvgPool 2x2 stride 2 -> 16 x 5 x 5 = 400 features
      -> Linear(400, classes)

"Three-dimensional" refers to the three input channels; all convolutions are 2-D.
"""

from __future__ import annotations

import torch
from torch import nn

from mer_bench.core.cards import ModelCard, ModelSpec, Recipe

#: Filters of the three streams, as in the paper.
STREAM_WIDTHS = (3, 5, 8)


class Stream(nn.Module):
    """One STSTNet stream: conv 3x3 -> ReLU -> BatchNorm -> MaxPool(3, 3) -> Dropout."""

    def __init__(self, in_channels: int, width: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, width, kernel_size=3, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=3, padding=1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.pool(self.bn(torch.relu(self.conv(x)))))


class STSTNet(nn.Module):
    """The triple-stream network; `forward` takes (B, 3, 28, 28) flow on the 0-255 scale."""

    def __init__(self, num_classes: int = 3, in_channels: int = 3, dropout: float = 0.5) -> None:
        super().__init__()
        self.streams = nn.ModuleList(Stream(in_channels, w, dropout) for w in STREAM_WIDTHS)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)
        self.fc = nn.Linear(sum(STREAM_WIDTHS) * 5 * 5, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([stream(x) for stream in self.streams], dim=1)  # (B, 16, 10, 10)
        return self.fc(torch.flatten(self.pool(x), 1))


def build(num_classes: int) -> STSTNet:
    """A fresh STSTNet (PyTorch default initialisation)."""
    return STSTNet(num_classes)


NOTES = (
    "Recipe from the authors' PyTorch code: Adam lr 5e-5, batch 256, 800 epochs per LOSO fold, "
    "cross-entropy, a fresh model per fold; the published numbers are the last epoch's "
    "predictions (the authors' MATLAB script used 5 epochs). "
    "Input: raw 0-255 flow images (strain, v, u as OpenCV reads them), no rescaling, as in the reference; BatchNorm "
    "after the first ReLU absorbs the scale. "
    "Open points and choices: the layer order conv -> ReLU -> BatchNorm -> MaxPool -> Dropout(0.5) "
    "follows the authors' PyTorch port; convolutions use 'same' padding (the paper's 28x28 maps; "
    "the PyTorch port pads by 2, giving 30x30 maps that pool to the same 10x10, with the same "
    "parameter count). The reference loads images with OpenCV, i.e. with channels in B, G, R "
    "order; channel order does not change the architecture."
)

card = ModelCard(
    name="ststnet",
    description="STSTNet: three shallow 3x3-conv streams (3, 5, 8 filters) on u, v and strain.",
    reference="Liong et al., Shallow Triple Stream Three-dimensional CNN (STSTNet) for "
    "Micro-expression Recognition, IEEE FG 2019",
    year=2019,
    view="flow28",
    num_params=1_683,
    recipe=Recipe(optimizer="adam", lr=5e-5, batch_size=256, epochs=800, weight_decay=0.0),
    framework="torch",
    notes=NOTES,
    published={
        "composite_uf1": "0.7353",
        "composite_uar": "0.7605",
        "smic_uf1": "0.6801",
        "smic_uar": "0.7013",
        "casme2_uf1": "0.8382",
        "casme2_uar": "0.8686",
        "samm_uf1": "0.6588",
        "samm_uar": "0.6810",
        "selection": "fixed (last of 800 epochs)",
    },
)

spec = ModelSpec(card=card, build=build)
