"""Small pieces shared by the baseline models: input rescaling, a ReLU that is never in place,
and exact parameter counting (what every card's `num_params` is tested against)."""

from __future__ import annotations

import torch
from torch import nn

#: The flow28 inputs are on the 0-255 scale of the STSTNet flow PNGs (mer_bench.data.contract.InputArrays).
FLOW_SCALE = 255.0


class Rescale(nn.Module):
    """Maps 0-255 flow images to [-1, 1] inside the model: (x - 127.5) / 127.5, no parameters.

    Centring matters for networks without BatchNorm at the input (a ViT barely trains on 0-1
    inputs whose every patch sits near 0.5), and in the per-image min-max flow images zero
    motion sits near mid-grey, so after centring "no motion" is close to 0.
    """

    def __init__(self, scale: float = FLOW_SCALE) -> None:
        super().__init__()
        self.half = float(scale) / 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.half) / self.half

    def extra_repr(self) -> str:
        return f"(x - {self.half:g}) / {self.half:g}"


class ReLU(nn.ReLU):
    """`nn.ReLU` that ignores `inplace=True`, so timm blocks stay vmap / functional_call friendly."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(inplace=False)


def count_params(module: nn.Module) -> int:
    """Number of trainable parameters (what the cards report; buffers are not counted)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
