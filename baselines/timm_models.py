"""Generic vision backbones from timm: a ResNet-18 and a ViT-Tiny on 28x28 flow, and a ResNet-18
on each larger view (the onset and apex frames, flow at 112 px).

Both are created with `timm.create_model(..., pretrained=False)`: nothing is downloaded, weights
are random. They answer "does a standard architecture, untouched by MER-specific design, do as
well as the MER networks on the same inputs and recipe?".

    resnet18-flow:  (x - 127.5) / 127.5 -> timm resnet18, 3x3 stride-1 stem, no max-pool
                    (28 -> 28 -> 14 -> 7 -> 4 -> global average pool -> Linear)
    vit-tiny-flow:  (x - 127.5) / 127.5 -> timm vit_tiny (dim 192, depth 12, 3 heads), img 28,
                    patch 7: a 4x4 grid of tokens plus the class token
    resnet18-frames: the `frames` view (aligned onset and apex RGB crops, 112 px, uint8), the two
                    frames stacked as 6 channels, [-1, 1] -> timm resnet18 (ImageNet stem)
    resnet18-flow112: the `flow` view at 112 px (strain, v, u; 0-255) -> [-1, 1] -> timm resnet18
"""

from __future__ import annotations

import torch
from torch import nn

from mer_bench.core.cards import ModelCard, ModelSpec, Recipe
from mer_bench_baselines.layers import ReLU, Rescale

VIT_PATCH = 7


class ResNetFlow(nn.Module):
    """timm ResNet-18 with a CIFAR-style stem for 28x28 inputs; input (B, 3, 28, 28), 0-255."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        import timm  # here, not at import: `mer-bench list models` stays quick

        self.rescale = Rescale()
        net = timm.create_model(
            "resnet18", pretrained=False, num_classes=num_classes, act_layer=ReLU
        )
        # The ImageNet stem (7x7 stride 2 + max-pool) would shrink 28x28 to 7x7 at once.
        net.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.rescale(x))


class ViTFlow(nn.Module):
    """timm ViT-Tiny at img_size 28 with 7x7 patches; input (B, 3, 28, 28), 0-255."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        import timm

        self.rescale = Rescale()
        self.net = timm.create_model(
            "vit_tiny_patch16_224",
            pretrained=False,
            num_classes=num_classes,
            img_size=28,
            patch_size=VIT_PATCH,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.rescale(x))


class ResNetFrames(nn.Module):
    """timm ResNet-18 on the onset and apex crops stacked as channels: (B, 2, 3, S, S) uint8."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        import timm

        self.net = timm.create_model(
            "resnet18", pretrained=False, num_classes=num_classes, in_chans=6, act_layer=ReLU
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # onset and apex stacked as channels; the apex-minus-onset change is the net's to learn
        return self.net(x.flatten(1, 2) / 127.5 - 1.0)


class ResNetFlow112(nn.Module):
    """timm ResNet-18 (ImageNet stem) on the flow view at 112 px: (B, 3, 112, 112), 0-255."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        import timm

        self.rescale = Rescale()
        self.net = timm.create_model(
            "resnet18", pretrained=False, num_classes=num_classes, act_layer=ReLU
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.rescale(x))


def build_resnet(num_classes: int) -> ResNetFlow:
    """A fresh, randomly initialised ResNet-18 for flow28."""
    return ResNetFlow(num_classes)


def build_vit(num_classes: int) -> ViTFlow:
    """A fresh, randomly initialised ViT-Tiny/7 for flow28."""
    return ViTFlow(num_classes)


_INPUT_NOTE = (
    "Input: flow28 (strain, v, u) mapped to [-1, 1] inside the model ((x - 127.5) / 127.5, "
    "timm's mean/std 0.5 convention for ViTs; a fixed Rescale layer, no parameters); "
    "no other normalisation, no augmentation. pretrained=False: trained from "
    "scratch on each fold."
)

resnet_card = ModelCard(
    name="resnet18-flow",
    description="timm ResNet-18 from scratch on 28x28 flow: 3x3 stride-1 stem, no max-pool.",
    reference="He et al., Deep Residual Learning for Image Recognition, CVPR 2016 (timm resnet18)",
    year=2016,
    view="flow28",
    num_params=11_170_371,
    recipe=Recipe(optimizer="adam", lr=1e-3, batch_size=64, epochs=30, weight_decay=0.0),
    framework="torch",
    notes=" ".join(
        [
            "Generic baseline, no MER paper recipe. Architecture: timm resnet18 (BasicBlock, "
            "layers 2-2-2-2, widths 64-512) with the stem replaced for 28x28 inputs: a 3x3 stride-1 "
            "conv (64 maps, no bias) and no max-pool, so stages run at 28, 14, 7 and 4 pixels "
            "(the usual CIFAR adaptation). ReLUs are not in place (vmap friendly).",
            _INPUT_NOTE,
            "Recipe (our choice): Adam lr 1e-3, batch 64, 30 fixed epochs.",
        ]
    ),
)

vit_card = ModelCard(
    name="vit-tiny-flow",
    description="timm ViT-Tiny from scratch on 28x28 flow: 7x7 patches, 16 tokens, dim 192, depth 12.",
    reference="Dosovitskiy et al., An Image is Worth 16x16 Words, ICLR 2021 (timm vit_tiny)",
    year=2021,
    view="flow28",
    num_params=5_371_203,
    recipe=Recipe(optimizer="adamw", lr=1e-4, batch_size=64, epochs=50, weight_decay=0.05),
    framework="torch",
    notes=" ".join(
        [
            "Generic baseline, no MER paper recipe. Architecture: timm vit_tiny_patch16_224 "
            "(dim 192, depth 12, 3 heads, MLP ratio 4, class token, learned position embedding) "
            "created at img_size=28 with patch_size=7: the 4x4 token grid of HTNet's patching, and "
            "a quarter of the tokens (and far less compute) than patch 4 would give.",
            _INPUT_NOTE,
            "Recipe (our choice): AdamW lr 1e-4, weight decay 0.05, batch 64, 50 fixed epochs; "
            "the engine uses a constant learning rate and no warm-up, and 5e-4 proved unstable "
            "without warm-up on a small separable test problem.",
        ]
    ),
)

_RESNET_112 = (
    "timm resnet18 (BasicBlock, layers 2-2-2-2, widths 64-512) with its ImageNet "
    "stem (7x7 stride-2 conv, max-pool): 112 -> 28 -> 28 -> 14 -> 7 -> 4 px; ReLUs "
    "not in place. pretrained=False: trained from scratch on each fold."
)

frames_card = ModelCard(
    name="resnet18-frames",
    description="timm ResNet-18 from scratch on the aligned onset and apex crops (112 px RGB).",
    reference="He et al., Deep Residual Learning for Image Recognition, CVPR 2016 (timm resnet18)",
    year=2016,
    view="frames",
    view_params={"size": 112, "color": "rgb"},
    num_params=11_187_459,
    recipe=Recipe(optimizer="adam", lr=1e-3, batch_size=32, epochs=10, weight_decay=0.0),
    notes=" ".join(
        [
            "Generic baseline on the frames view: onset and apex RGB crops (uint8) stacked as 6 "
            "input channels and mapped to [-1, 1]; the model must find the change itself (no "
            "difference image is given).",
            _RESNET_112,
            "Recipe (our choice, untuned): Adam lr 1e-3, batch 32, 10 fixed epochs.",
        ]
    ),
)

flow112_card = ModelCard(
    name="resnet18-flow112",
    description="timm ResNet-18 from scratch on 112 px optical flow (strain, v, u).",
    reference="He et al., Deep Residual Learning for Image Recognition, CVPR 2016 (timm resnet18)",
    year=2016,
    view="flow",
    view_params={"size": 112},
    num_params=11_178_051,
    recipe=Recipe(optimizer="adam", lr=1e-3, batch_size=32, epochs=10, weight_decay=0.0),
    notes=" ".join(
        [
            "Generic baseline on the flow view at 112 px (the same flow method and min-max 0-255 "
            "scaling as flow28, computed on a 112 px aligned crop), mapped to [-1, 1].",
            _RESNET_112,
            "Recipe (our choice, untuned): Adam lr 1e-3, batch 32, 10 fixed epochs.",
        ]
    ),
)

resnet_spec = ModelSpec(card=resnet_card, build=build_resnet)
vit_spec = ModelSpec(card=vit_card, build=build_vit)
frames_spec = ModelSpec(card=frames_card, build=ResNetFrames)
flow112_spec = ModelSpec(card=flow112_card, build=ResNetFlow112)
