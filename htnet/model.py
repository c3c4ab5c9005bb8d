"""HTNet: Hierarchical Transformer Network for micro-expression recognition (Wang et al., 2024).

The file reads top to bottom like the paper's figure:

    tiled 28x28 flow image (see `regions.py`)
      -> patch embedding: 7x7 patches, flattened, 1x1 conv -> a 4x4 grid of `dim`-channel tokens
      -> level 1: 16 local blocks (one per 1x1 token group), `block_repeats[0]` transformer layers
      -> aggregate: 3x3 conv (dim -> 2 dim), channel LayerNorm, MaxPool(3, 2, 1)  -> 2x2
      -> level 2: 4 local blocks, `block_repeats[1]` layers, twice the heads
      -> aggregate (2 dim -> 4 dim)                                                -> 1x1
      -> level 3: 1 block, `block_repeats[2]` layers, four times the heads
      -> head: channel LayerNorm, mean pool, Linear -> logits

The structure is that of the Nested Hierarchical Transformer (NesT, Zhang et al. 2021): level
`l` (counted from the top) splits the feature map into 2**(L-1-l) x 2**(L-1-l) local blocks and
runs a small transformer inside each. Attention and MLP are 1x1 convolutions and LayerNorm
normalises over channels, as in the paper; internally maps are kept channels-last (B, H, W, C) so
each 1x1 convolution, and each aggregation 3x3 convolution, runs as one matrix product (same
parameters, same numbers within float rounding, several times faster to train on CPU).

Single-token attention: at the paper configuration (image 28, patch 7, 3 levels) the sequence
length inside every local block is (28 / 7 / 2**2)**2 = 1. Each softmax therefore runs over a
single element and equals 1, so attention reduces to its value path, `to_out(v)`, and regions
interact only through the aggregation convolutions. With one token per block `Attention` computes
only that value path (the queries and keys could change neither the output nor, their gradient
being exactly 0, the training); the general code runs whenever a block holds several tokens
(other image or patch sizes). The q/k rows of `to_qkv` stay parameters, as in the reference.

Written to be vmapped: no in-place ops, no data-dependent Python control flow, no `.item()`,
so `torch.func.functional_call` + `torch.vmap` can train several folds' copies at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


@dataclass(frozen=True)
class HTNetConfig:
    """Hyper-parameters of one HTNet configuration (the paper's names)."""

    image_size: int = 28
    patch_size: int = 7
    dim: int = 256
    heads: int = 3
    num_hierarchies: int = 3
    block_repeats: tuple[int, ...] = (2, 2, 10)
    mlp_mult: int = 4
    channels: int = 3
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ValueError(
                f"image_size {self.image_size} not divisible by patch {self.patch_size}"
            )
        if len(self.block_repeats) != self.num_hierarchies:
            raise ValueError(
                f"block_repeats needs {self.num_hierarchies} entries: {self.block_repeats}"
            )
        blocks = 2 ** (self.num_hierarchies - 1)
        if self.fmap_size % blocks:
            raise ValueError(
                f"a {self.fmap_size}x{self.fmap_size} token grid cannot hold {blocks}x{blocks} blocks"
            )
        if self.dim // self.heads < 1:
            raise ValueError(f"dim {self.dim} too small for {self.heads} heads")

    @property
    def fmap_size(self) -> int:
        """Side of the token grid after patch embedding (4 at the paper configuration)."""
        return self.image_size // self.patch_size

    @property
    def seq_len(self) -> int:
        """Tokens per local block; constant over the levels (1 at the paper configuration)."""
        return (self.fmap_size // 2 ** (self.num_hierarchies - 1)) ** 2


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis, with per-channel gain `g` and bias `b`.

    Parameters are shaped (1, C, 1, 1) as for a (B, C, H, W) map; `forward` takes channels-last
    input (..., C), where this is `F.layer_norm` over the last axis (biased variance, eps inside
    the square root): the same numbers, computed fast.
    """

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.g = nn.Parameter(torch.ones(1, dim, 1, 1))
        self.b = nn.Parameter(torch.zeros(1, dim, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], self.g.reshape(-1), self.b.reshape(-1), self.eps)


class Conv1x1(nn.Conv2d):
    """The paper's 1x1 convolution, applied to channels-last input (..., C_in) -> (..., C_out).

    Parameters are those of `nn.Conv2d(c_in, c_out, 1)`; a 1x1 conv is a per-position matrix
    product, and computing it as one is 3-8x faster on CPU than the convolution path.
    """

    def __init__(self, c_in: int, c_out: int, bias: bool = True) -> None:
        super().__init__(c_in, c_out, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight.flatten(1), self.bias)


def _dropout(p: float) -> nn.Module:
    # Identity at p == 0 (the paper), so a vmapped forward draws no random numbers at all.
    return nn.Dropout(p) if p > 0 else nn.Identity()


class Attention(nn.Module):
    """Pre-norm multi-head self-attention over the tokens (B, T, C) of each local block.

    As in the reference, `dim_head = dim // heads`, so the inner width is `heads * dim_head`
    (255 for dim 256 and 3 heads), not necessarily `dim`.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        dim_head = dim // heads
        inner_dim = dim_head * heads
        self.heads = heads
        self.scale = dim_head**-0.5
        self.norm = ChannelLayerNorm(dim)
        self.to_qkv = Conv1x1(dim, inner_dim * 3, bias=False)
        self.to_out = nn.Sequential(Conv1x1(inner_dim, dim), _dropout(dropout))

    def qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys, values (B, heads, T, dim_head) of normalised tokens `x` (B, T, C)."""
        q, k, v = self.to_qkv(self.norm(x)).chunk(3, dim=-1)
        return tuple(rearrange(t, "b t (h d) -> b h t d", h=self.heads) for t in (q, k, v))

    def weights(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Softmax attention weights (B, heads, T, T)."""
        return torch.softmax(torch.einsum("bhid,bhjd->bhij", q, k) * self.scale, dim=-1)

    def values(self, x: torch.Tensor) -> torch.Tensor:
        """Values only (B, T, heads * dim_head), from the value rows of `to_qkv`."""
        inner = self.to_out[0].in_channels
        return F.linear(self.norm(x), self.to_qkv.weight.flatten(1)[2 * inner :])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            # One token per block (the paper configuration): the softmax weight is exactly 1 and
            # its gradient exactly 0, so the output is to_out(v) and queries and keys change
            # nothing; skipping them gives the same outputs and the same (zero) gradients on
            # their rows of to_qkv, for a third less work. A shape test, so vmap-safe.
            return self.to_out(self.values(x))
        q, k, v = self.qkv(x)
        out = torch.einsum("bhij,bhjd->bhid", self.weights(q, k), v)
        return self.to_out(rearrange(out, "b h t d -> b t (h d)"))


class FeedForward(nn.Module):
    """Pre-norm MLP as two 1x1 convs with GELU; hidden width `mlp_mult * dim`."""

    def __init__(self, dim: int, mlp_mult: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            ChannelLayerNorm(dim),
            Conv1x1(dim, dim * mlp_mult),
            nn.GELU(),
            _dropout(dropout),
            Conv1x1(dim * mlp_mult, dim),
            _dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class LocalTransformer(nn.Module):
    """`depth` residual (attention, MLP) layers applied to the tokens (B, T, C) of each block.

    The level's learned position embedding has one value per token of a block (`seq_len`, a
    single scalar at the paper configuration), broadcast over channels.
    """

    def __init__(
        self, dim: int, seq_len: int, depth: int, heads: int, mlp_mult: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.pos_emb = nn.Parameter(torch.randn(seq_len))
        self.layers = nn.ModuleList(
            nn.ModuleList([Attention(dim, heads, dropout), FeedForward(dim, mlp_mult, dropout)])
            for _ in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.pos_emb[: x.shape[1], None]
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        return x


class Conv3x3(nn.Conv2d):
    """The aggregation's 3x3 convolution (stride 1, padding 1) on channels-last maps (B, H, W, C).

    Parameters are those of `nn.Conv2d(c_in, c_out, 3, padding=1)`. The nine shifted copies of
    the zero-padded map are stacked as (C, 3, 3), the weight's own order, so the convolution is
    one matrix product with `weight.flatten(1)` (a view): on these 4x4 and 2x2 maps this trains
    several times faster on CPU than the convolution kernels, which reorder the weight (19 MB at
    level 2) on every call.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(c_in, c_out, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-3], x.shape[-2]
        padded = F.pad(x, (0, 0, 1, 1, 1, 1))  # (B, H + 2, W + 2, C)
        taps = torch.stack(
            [padded[..., i : i + h, j : j + w, :] for i in range(3) for j in range(3)], dim=-1
        )  # (B, H, W, C, 9)
        return F.linear(taps.flatten(-2), self.weight.flatten(1), self.bias)


class Aggregate(nn.Module):
    """Between levels: 3x3 conv (dim -> dim_out), channel LayerNorm, MaxPool(3, 2, 1) halves H, W.

    Takes and returns channels-last maps (B, H, W, C).
    """

    def __init__(self, dim: int, dim_out: int) -> None:
        super().__init__()
        self.conv = Conv3x3(dim, dim_out)
        self.norm = ChannelLayerNorm(dim_out)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.conv(x))
        return rearrange(self.pool(rearrange(x, "b h w c -> b c h w")), "b c h w -> b h w c")


class Level(nn.Module):
    """One hierarchy level: split the map into `blocks x blocks` local blocks, run the local
    transformer on each block's tokens independently, stitch them back, then aggregate."""

    def __init__(self, blocks: int, transformer: LocalTransformer, aggregate: nn.Module) -> None:
        super().__init__()
        self.blocks = blocks
        self.transformer = transformer
        self.aggregate = aggregate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.blocks
        h, w = x.shape[1] // n, x.shape[2] // n
        x = rearrange(x, "b (b1 h) (b2 w) c -> (b b1 b2) (h w) c", b1=n, b2=n)
        x = self.transformer(x)
        x = rearrange(x, "(b b1 b2) (h w) c -> b (b1 h) (b2 w) c", b1=n, b2=n, h=h, w=w)
        return self.aggregate(x)


class HTNet(nn.Module):
    """HTNet for (B, channels, image_size, image_size) inputs on the raw 0-255 scale -> (B, classes).

    Inside, feature maps are channels-last (B, H, W, C); see `Conv1x1`.
    """

    def __init__(self, config: HTNetConfig, num_classes: int) -> None:
        super().__init__()
        c = config
        self.config = c
        p = c.patch_size
        levels = c.num_hierarchies
        mults = [2**i for i in range(levels)]  # width and heads double at every level
        dims = [c.dim * m for m in mults]

        self.to_patch_embedding = Conv1x1(c.channels * p * p, dims[0])

        self.levels = nn.ModuleList()
        for i in range(levels):
            last = i == levels - 1
            self.levels.append(
                Level(
                    blocks=2 ** (levels - 1 - i),
                    transformer=LocalTransformer(
                        dims[i],
                        c.seq_len,
                        c.block_repeats[i],
                        c.heads * mults[i],
                        c.mlp_mult,
                        c.dropout,
                    ),
                    aggregate=nn.Identity() if last else Aggregate(dims[i], dims[i + 1]),
                )
            )

        self.head = nn.Sequential(ChannelLayerNorm(dims[-1]), nn.Linear(dims[-1], num_classes))

    def embed(self, img: torch.Tensor) -> torch.Tensor:
        """7x7 patches flattened as (row, col, channel), projected to tokens (B, 4, 4, dim)."""
        p = self.config.patch_size
        return self.to_patch_embedding(
            rearrange(img, "b c (h p1) (w p2) -> b h w (p1 p2 c)", p1=p, p2=p)
        )

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = self.embed(img)
        for level in self.levels:
            x = level(x)
        norm, linear = self.head
        return linear(norm(x).mean(dim=(1, 2)))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (what the model cards declare)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
