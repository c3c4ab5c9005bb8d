"""Video models on the `clip` view: T aligned frames from onset to offset.

    c3d-small:  (B, 8, 3, 112, 112) uint8 -> [-1, 1] -> (B, 3, 8, 112, 112)
                -> 4 x [Conv3d -> BatchNorm3d -> ReLU] (16, 32, 64, 128 maps; space halved each
                   time, time halved in the last two) -> global average pool -> Linear
    r3d18-clip: torchvision's R3D-18 (Tran et al., CVPR 2018), `weights=None`, on the same clip

R3D-18 is the standard small video ResNet (33M parameters); one training step of 8 clips takes
about 20 s on one core of the 2-core CI machine, so a demo run is a GPU job. `c3d-small` is ours:
a C3D-like 3D CNN about 100 times cheaper, so the clip view can be trained and tested on a laptop.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.video import r3d_18

from mer_bench.core.cards import ModelCard, ModelSpec, Recipe
from mer_bench_baselines.layers import ReLU

#: The clip view both models consume (mer_bench.data.preprocess.views.ClipView parameters).
CLIP = {"length": 8, "size": 112, "span": "offset", "color": "rgb"}


def clip_to_video(x: torch.Tensor) -> torch.Tensor:
    """(B, T, C, H, W) pixels 0-255 -> (B, C, T, H, W) in [-1, 1] (what 3D convolutions take)."""
    return (x / 127.5 - 1.0).permute(0, 2, 1, 3, 4)


def _block(c_in: int, c_out: int, kernel: tuple[int, int, int], stride: tuple[int, int, int]):
    padding = tuple(k // 2 for k in kernel)
    return nn.Sequential(
        nn.Conv3d(c_in, c_out, kernel, stride, padding, bias=False), nn.BatchNorm3d(c_out), ReLU()
    )


class C3DSmall(nn.Module):
    """A small C3D-style network for 8 x 112 x 112 clips (see the module docstring)."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _block(3, 16, (3, 5, 5), (1, 2, 2)),  # 8 x 56 x 56
            _block(16, 32, (3, 3, 3), (1, 2, 2)),  # 8 x 28 x 28
            _block(32, 64, (3, 3, 3), (2, 2, 2)),  # 4 x 14 x 14
            _block(64, 128, (3, 3, 3), (2, 2, 2)),  # 2 x 7 x 7
        )
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.head = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(clip_to_video(x))).flatten(1))


class R3D18Clip(nn.Module):
    """torchvision R3D-18, randomly initialised, on the clip view."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.net = r3d_18(weights=None, num_classes=num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(clip_to_video(x))


def build_c3d_small(num_classes: int) -> C3DSmall:
    return C3DSmall(num_classes)


def build_r3d18(num_classes: int) -> R3D18Clip:
    return R3D18Clip(num_classes)


_INPUT = (
    "Input: the clip view, 8 aligned RGB frames at 112 px resampled evenly from onset to "
    "offset (mer_bench.data.preprocess.timeaxis), pixels mapped to [-1, 1] inside the model; no "
    "augmentation; trained from scratch on each fold."
)

c3d_card = ModelCard(
    name="c3d-small",
    description="A small C3D-style 3D CNN (4 conv blocks) on 8-frame 112 px clips.",
    reference="in the spirit of Tran et al., Learning Spatiotemporal Features with 3D "
    "Convolutional Networks (C3D), ICCV 2015; this network is mer-bench's own",
    year=2015,
    view="clip",
    view_params=dict(CLIP),
    num_params=294_771,
    recipe=Recipe(optimizer="adam", lr=1e-3, batch_size=16, epochs=15, weight_decay=0.0),
    notes=" ".join(
        [
            "Our own small 3D CNN, there to make the clip view trainable on a CPU: conv3d "
            "(3x5x5, stride 1x2x2, 16 maps), then 3x3x3 convs with 32, 64, 128 maps (strides "
            "1x2x2, 2x2x2, 2x2x2), each followed by BatchNorm3d and ReLU (not in place), global "
            "average pooling and a linear classifier; about 0.25 GMAC per clip.",
            _INPUT,
            "Recipe (our choice): Adam lr 1e-3, batch 16, 15 fixed epochs.",
        ]
    ),
)

r3d_card = ModelCard(
    name="r3d18-clip",
    description="torchvision R3D-18 from scratch on 8-frame 112 px clips (a GPU model).",
    reference="Tran et al., A Closer Look at Spatiotemporal Convolutions for Action "
    "Recognition, CVPR 2018 (torchvision r3d_18)",
    year=2018,
    view="clip",
    view_params=dict(CLIP),
    num_params=33_167_811,
    recipe=Recipe(optimizer="adam", lr=1e-4, batch_size=16, epochs=30, weight_decay=0.0),
    notes=" ".join(
        [
            "torchvision.models.video.r3d_18(weights=None): nothing is downloaded; the Kinetics "
            "weights are never used. About 20 s per training step of 8 clips on one CPU core: "
            "run it on a GPU (--device cuda).",
            _INPUT,
            "Recipe (our choice, untuned): Adam lr 1e-4, batch 16, 30 fixed epochs.",
        ]
    ),
)

c3d_spec = ModelSpec(card=c3d_card, build=build_c3d_small)
r3d_spec = ModelSpec(card=r3d_card, build=build_r3d18)
