"""The optimiser factory: every trainer builds its optimiser here, from the recipe alone.

`make_optimizer` gives torch's own optimiser (one model, or K stacked models that all step
together: Adam, AdamW and SGD are element-wise, so on stacked (K, ...) tensors they are each
model's own optimiser). `StackedOptimizer` applies the same formulas with a step count per
model, for stacked models that do not all step at every step (different batch counts per epoch,
different epoch counts); a model that does not step keeps its parameters and moments.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

from mer_bench.core.cards import Recipe
from mer_bench.core.errors import MerBenchError


def make_optimizer(
    recipe: Recipe, params: Iterable[torch.Tensor], implementation: str | None = None
) -> torch.optim.Optimizer:
    """torch's optimiser for `recipe`, in the recipe's implementation (or `implementation`):
    "default" (torch's choice: a loop over tensors on the CPU), "foreach" (multi-tensor) or
    "fused" (one kernel)."""
    implementation = implementation or recipe.optimizer_impl
    extra = {} if implementation == "default" else {implementation: True}
    if recipe.optimizer == "adam":
        return torch.optim.Adam(
            params,
            lr=recipe.lr,
            betas=recipe.betas,
            eps=recipe.eps,
            weight_decay=recipe.weight_decay,
            **extra,
        )
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(
            params,
            lr=recipe.lr,
            betas=recipe.betas,
            eps=recipe.eps,
            weight_decay=recipe.weight_decay,
            **extra,
        )
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=recipe.lr,
            momentum=recipe.momentum,
            weight_decay=recipe.weight_decay,
            **extra,
        )
    raise MerBenchError(f"optimizer {recipe.optimizer!r} cannot train a torch model")


class StackedOptimizer:
    """`make_optimizer`'s formulas on stacked (K, ...) parameters, with per-model step counts.

    Models not `active` at a step keep their parameters and moments unchanged and do not count
    the step, exactly as if they had not stepped.
    """

    def __init__(self, recipe: Recipe, params: Sequence[torch.Tensor], n_models: int) -> None:
        if recipe.optimizer not in ("adam", "adamw", "sgd"):
            raise MerBenchError(f"optimizer {recipe.optimizer!r} cannot train a torch model")
        self.recipe = recipe
        self.params = list(params)
        self.steps = np.zeros(n_models, dtype=np.int64)
        self.state = [
            [torch.zeros_like(p) for _ in range(1 if recipe.optimizer == "sgd" else 2)]
            for p in self.params
        ]

    @staticmethod
    def _per_model(values: np.ndarray, like: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(values, dtype=like.dtype, device=like.device).reshape(
            (-1,) + (1,) * (like.dim() - 1)
        )

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], active: np.ndarray) -> None:
        all_active = bool(active.all())
        self.steps += active.astype(np.int64)
        r = self.recipe
        lr, wd, kind = r.lr, r.weight_decay, r.optimizer
        steps = np.maximum(self.steps, 1).astype(np.float64)
        frozen = torch.as_tensor(np.flatnonzero(~active))
        for param, grad, state in zip(self.params, grads, self.state):
            saved = (
                None if all_active else [t[frozen.to(t.device)].clone() for t in (param, *state)]
            )
            if kind == "sgd":
                (buf,) = state
                if wd:
                    grad = grad.add(param, alpha=wd)
                # from zeros, the first step gives buf = grad, as torch's SGD does
                buf.mul_(r.momentum).add_(grad)
                param.add_(buf, alpha=-lr)
            else:
                beta1, beta2 = r.betas
                exp_avg, exp_avg_sq = state
                if kind == "adamw":
                    param.mul_(1 - lr * wd)
                elif wd:
                    grad = grad.add(param, alpha=wd)
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                step_size = self._per_model(lr / (1 - beta1**steps), param)
                bc2_sqrt = self._per_model(np.sqrt(1 - beta2**steps), param)
                denom = (exp_avg_sq.sqrt() / bc2_sqrt).add_(r.eps)
                param.sub_(step_size * exp_avg / denom)
            if saved is not None:
                for tensor, old in zip((param, *state), saved):
                    tensor[frozen.to(tensor.device)] = old


class SharedStepOptimizer:
    """torch's own optimiser (fused on CUDA) on stacked parameters whose models all step at every
    step (then they also share the step count)."""

    def __init__(
        self, recipe: Recipe, params: Sequence[torch.Tensor], device: torch.device
    ) -> None:
        self.params = list(params)
        self.optimizer = make_optimizer(
            recipe, self.params, "fused" if device.type == "cuda" else None
        )

    def step(self, grads: Sequence[torch.Tensor], active: np.ndarray) -> None:
        if not active.all():
            raise RuntimeError("SharedStepOptimizer needs every model active at every step")
        for param, grad in zip(self.params, grads):
            # the fused kernels need each grad in its parameter's dtype and memory layout
            param.grad = grad.to(dtype=param.dtype).contiguous()
        self.optimizer.step()
        for param in self.params:
            param.grad = None
