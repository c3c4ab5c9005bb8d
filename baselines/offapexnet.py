"""OFF-ApexNet: Optical Flow Features from Apex frame Network (Gan et al., Signal Processing:
Image Communication 2019).

Reads top to bottom like the paper's figure:

    horizontal flow u (28x28)              vertical flow v (28x28)
      -> conv 5x5, 6 filters, ReLU            (same layers, own weights)
      -> max-pool 2x2                  -> 14x14
      -> conv 5x5, 16 filters, ReLU
      -> max-pool 2x2                  -> 7x7x16 = 784 features per stream
    concatenate (1568) -> FC 1024, ReLU -> FC 1024, ReLU -> Dropout -> FC classes

The strain channel of the flow28 input is not used: the paper feeds only u and v.
"""

from __future__ import annotations

import torch
from torch import nn

from mer_bench.core.cards import ModelCard, ModelSpec, Recipe
from mer_bench.data.contract import CHANNEL_U, CHANNEL_V
from mer_bench_baselines.layers import Rescale

#: Input channels of flow28 fed to the two streams: u and v.
STREAM_CHANNELS = (CHANNEL_U, CHANNEL_V)


class FlowStream(nn.Module):
    """One stream: two 5x5 conv + ReLU + 2x2 max-pool stages on a single flow component."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5, padding=2)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(x)))
        return torch.flatten(self.pool(torch.relu(self.conv2(x))), 1)  # (B, 784)


class OFFApexNet(nn.Module):
    """Two streams (u, v) and a three-layer classifier; input (B, 3, 28, 28) on the 0-255 scale."""

    def __init__(self, num_classes: int = 3, hidden: int = 1024, dropout: float = 0.5) -> None:
        super().__init__()
        self.rescale = Rescale()
        self.streams = nn.ModuleList(FlowStream() for _ in STREAM_CHANNELS)
        self.classifier = nn.Sequential(
            nn.Linear(2 * 16 * 7 * 7, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.rescale(x)
        feats = [s(x[:, c : c + 1]) for s, c in zip(self.streams, STREAM_CHANNELS)]
        return self.classifier(torch.cat(feats, dim=1))


def build(num_classes: int) -> OFFApexNet:
    """A fresh OFF-ApexNet (PyTorch default initialisation)."""
    return OFFApexNet(num_classes)


NOTES = (
    "Architecture from the paper: two streams (horizontal and vertical flow between onset and "
    "apex), each conv 5x5x6 -> pool 2 -> conv 5x5x16 -> pool 2, concatenated into two fully "
    "connected layers of 1024 units and a softmax layer. "
    "Open points and choices: padding is 'same' (7x7 maps before the classifier, 784 features "
    "per stream); ReLU after every conv and hidden FC layer; one Dropout(0.5) before the output "
    "layer (the paper mentions dropout, not its place). The paper's flow is raw TV-L1 flow; "
    "flow28 holds per-image 0-255 flow images, which we map to [-1, 1] inside the model "
    "((x - 127.5) / 127.5, a fixed Rescale layer without parameters) so the "
    "un-normalised 1568-wide FC layer starts in a sane range. The optical strain channel is ignored. "
    "Recipe: our choice, not verified against the paper's code (none is public): Adam lr 1e-4, "
    "batch 64, 100 fixed epochs per fold. MEB (Varanka et al.) report this model at UF1 0.703 "
    "with a fixed epoch count versus 0.839 with the epoch picked on the test subject."
)

card = ModelCard(
    name="offapexnet",
    description="OFF-ApexNet: two 2-conv streams on u and v, then FC 1024-1024 (onset-apex flow).",
    reference="Gan, Liong, Yau, Huang, Tan, OFF-ApexNet on micro-expression recognition system, "
    "Signal Processing: Image Communication 74 (2019)",
    year=2019,
    view="flow28",
    num_params=2_664_475,
    recipe=Recipe(optimizer="adam", lr=1e-4, batch_size=64, epochs=100, weight_decay=0.0),
    framework="torch",
    notes=NOTES,
    published={
        "composite_uf1": "0.7196",
        "composite_uar": "0.7096",
        "smic_uf1": "0.6817",
        "smic_uar": "0.6695",
        "casme2_uf1": "0.8764",
        "casme2_uar": "0.8681",
        "samm_uf1": "0.5409",
        "samm_uar": "0.5392",
        "selection": "as reported in the MEGC2019 comparison (HTNet paper table); not stated",
    },
)

spec = ModelSpec(card=card, build=build)
