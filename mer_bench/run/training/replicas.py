"""The models one call of the trainer trains: one plain module, or K modules stacked for vmap.

Both give the trainer the same four verbs: `train_step` (one optimiser step on a `Step` of the
batch schedule), `predict` (class probabilities of given rows, eval mode), and `keep` / `restore`
(remember the current weights of some models as their best so far, and put them back).

`StackedModels` holds K models parameter by parameter ((K, ...) tensors) and runs them together
with `torch.func.functional_call` + `torch.vmap`; one backward pass gives every model its own
gradient (they share nothing). Each model is initialised as it would be alone (`torch.manual_seed`
of its job's seed, then `spec.build`), trains on its own batches (padding rows weigh 0), and each
`nn.BatchNorm*` runs as `MaskedBatchNorm`, whose batch statistics ignore padding and whose
running statistics are kept per model. On CPU in float32 this matches the single-model path to
float rounding; models drawing random numbers in training (dropout) get other draws under vmap
(randomness="different") and agree only statistically; bf16 autocast on CUDA likewise.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from mer_bench.core.cards import ModelSpec, Recipe
from mer_bench.run.training.augment import Augmenter
from mer_bench.run.training.losses import CrossEntropy, Loss
from mer_bench.run.training.optim import SharedStepOptimizer, StackedOptimizer, make_optimizer
from mer_bench.run.training.schedule import Step, batch_slices


def as_float(batch: torch.Tensor) -> torch.Tensor:
    """A batch as float32: uint8 views (frames, clips) are kept as uint8 until they are used."""
    return batch if batch.dtype == torch.float32 else batch.float()


def output_probs(logits: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Class probabilities (softmax) or, for multi-label AU tasks, per-AU ones (sigmoid)."""
    return torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=-1)


class SingleModel:
    """One model and its torch optimiser: the reference path (and what `local` workers run)."""

    def __init__(
        self,
        spec: ModelSpec,
        seed: int,
        recipe: Recipe,
        num_classes: int,
        device: torch.device,
        loss: Loss | None = None,
        augment: Augmenter | None = None,
        multilabel: bool = False,
    ) -> None:
        torch.manual_seed(seed)
        self.model = spec.build(num_classes).to(device)
        self.model.train()
        self.optimizer = make_optimizer(recipe, self.model.parameters())
        self.loss = (loss or CrossEntropy(np.zeros(num_classes))).mean
        self.augment = augment
        self.multilabel = multilabel  # AU tasks: per-AU sigmoid outputs (the loss is given)
        self.device = device
        self.best: dict[str, torch.Tensor] | None = None

    n = 1

    def train_step(self, x_all: torch.Tensor, y_all: torch.Tensor, step: Step) -> None:
        idx = step.rows[0].to(self.device)
        self.optimizer.zero_grad(set_to_none=True)
        x = as_float(x_all[idx])
        if self.augment is not None:
            x = self.augment(x)
        self.loss(self.model(x), y_all[idx]).backward()
        self.optimizer.step()

    @torch.no_grad()
    def predict(
        self, x_all: torch.Tensor, rows: Sequence[np.ndarray], batch_size: int
    ) -> list[np.ndarray]:
        (own,) = rows
        x = x_all[torch.as_tensor(own, device=self.device)]
        self.model.eval()
        try:
            out = (
                [
                    output_probs(self.model(as_float(x[s])).float(), self.multilabel)
                    for s in batch_slices(len(x), batch_size)
                ]
                if len(x)
                else []
            )
        finally:
            self.model.train()
        if not out:
            return [np.zeros((0, 0), dtype=np.float32)]
        return [torch.cat(out).cpu().numpy()]

    def keep(self, which: np.ndarray) -> None:
        if which[0]:
            self.best = copy.deepcopy(self.model.state_dict())

    def restore(self, which: np.ndarray) -> None:
        if which[0] and self.best is not None:
            self.model.load_state_dict(self.best)

    def state_dict_of(self, k: int) -> dict[str, torch.Tensor]:
        """The model's current state dict as CPU copies (what `--save-weights` keeps)."""
        return {
            name: t.detach().to("cpu", copy=True) for name, t in self.model.state_dict().items()
        }


class MaskedBatchNorm(nn.Module):
    """BatchNorm whose batch statistics weigh each row by `row_weight` (0 = ignore the row).

    Holds the same parameters and buffers, under the same names, as the `_BatchNorm` it replaces.
    In training it leaves the new running statistics in `self.update` (instead of writing its
    buffers in place) so a vmapped caller can return them per model. With all weights 1 it
    computes what `F.batch_norm` computes: biased variance to normalise, unbiased for the running
    variance.
    """

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm) -> None:
        super().__init__()
        self.eps, self.momentum = bn.eps, bn.momentum
        self.affine, self.track_running_stats = bn.affine, bn.track_running_stats
        if bn.affine:
            self.weight, self.bias = bn.weight, bn.bias
        if bn.track_running_stats:
            self.register_buffer("running_mean", bn.running_mean)
            self.register_buffer("running_var", bn.running_var)
            self.register_buffer("num_batches_tracked", bn.num_batches_tracked)
        self.train(bn.training)
        self.row_weight: torch.Tensor | None = None
        self.update: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        view = (1, -1) + (1,) * (x.dim() - 2)
        if self.training or not self.track_running_stats:
            dims = [0, *range(2, x.dim())]
            w = (
                torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
                if self.row_weight is None
                else self.row_weight.to(x.dtype)
            )
            w = w.reshape((-1,) + (1,) * (x.dim() - 1))
            count = w.sum() * math.prod(x.shape[2:])
            mean = (x * w).sum(dims) / count.clamp_min(1)
            centred = x - mean.reshape(view)
            var = (centred * centred * w).sum(dims) / count.clamp_min(1)
            if self.training and self.track_running_stats:
                self.update = self._running(mean, var, count)
        else:
            mean, var = self.running_mean, self.running_var
            centred = x - mean.reshape(view)
        y = centred * torch.rsqrt(var + self.eps).reshape(view)
        if self.affine:
            y = y * self.weight.reshape(view) + self.bias.reshape(view)
        return y

    def _running(self, mean: torch.Tensor, var: torch.Tensor, count: torch.Tensor):
        """New (running_mean, running_var, num_batches_tracked); unchanged for an empty batch."""
        seen = count > 0
        tracked = self.num_batches_tracked + seen.long()
        if self.momentum is None:  # cumulative moving average, as nn.BatchNorm with momentum=None
            factor = 1.0 / tracked.clamp_min(1).to(mean.dtype)
        else:
            factor = torch.full_like(count, self.momentum)
        factor = torch.where(seen, factor, torch.zeros_like(factor))
        unbiased = var * count / (count - 1).clamp_min(1)
        new_mean = self.running_mean + factor * (mean.detach() - self.running_mean)
        new_var = self.running_var + factor * (unbiased.detach() - self.running_var)
        return new_mean, new_var, tracked


def mask_batchnorms(model: nn.Module) -> dict[str, MaskedBatchNorm]:
    """Replace every BatchNorm of `model` (in place) by a MaskedBatchNorm; return them by name."""
    found = {}
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                masked = MaskedBatchNorm(child)
                setattr(module, child_name, masked)
                found[f"{name}.{child_name}" if name else child_name] = masked
    return found


class StackedModels:
    """K models as one stacked model on `device`, trained and predicted together (vmap).

    `shared_steps`: every model takes a step at every step (same batch count per epoch, same
    epochs); then torch's optimiser runs on the stacked tensors, else `StackedOptimizer`.
    """

    def __init__(
        self,
        spec: ModelSpec,
        seeds: Sequence[int],
        recipe: Recipe,
        num_classes: int,
        device: torch.device,
        autocast: torch.dtype | None = None,
        shared_steps: bool = False,
        losses: Sequence[Loss] | None = None,
        augments: Sequence[Augmenter | None] | None = None,
        multilabel: bool = False,
    ) -> None:
        self.multilabel = multilabel  # AU tasks: per-AU sigmoid outputs (the losses are given)
        # a loss and augmentations per model (each job's own class counts and generator);
        # no losses given: cross-entropy for every model
        self.losses = losses
        self.augments = augments if augments is not None and any(augments) else None
        params: dict[str, torch.Tensor] = {}
        buffers: dict[str, torch.Tensor] = {}
        template = None
        for k, seed in enumerate(seeds):
            torch.manual_seed(seed)
            model = spec.build(num_classes)
            for store, named in (
                (params, model.named_parameters()),
                (buffers, model.named_buffers()),
            ):
                for name, tensor in named:
                    if k == 0:
                        store[name] = torch.empty(
                            (len(seeds), *tensor.shape), dtype=tensor.dtype, device=device
                        )
                    store[name][k].copy_(tensor.detach())
            if k == 0:
                # state-dict key -> the parameter or buffer that holds it (tied weights share one)
                held = {
                    id(t): n
                    for named in (model.named_parameters(), model.named_buffers())
                    for n, t in named
                }
                self.state_source = {
                    key: held[id(t)] for key, t in model.state_dict(keep_vars=True).items()
                }
                template = model.to(device)
        template.train()
        self.n = len(seeds)
        self.template = template
        self.norms = mask_batchnorms(template)
        self.params, self.buffers = params, buffers
        for tensor in params.values():
            tensor.requires_grad_(True)
        self.optimizer = (
            SharedStepOptimizer(recipe, list(params.values()), device)
            if shared_steps
            else StackedOptimizer(recipe, list(params.values()), self.n)
        )
        self.device, self.autocast = device, autocast
        self.best: dict[str, torch.Tensor] | None = None

    def _forward(self, params: dict, buffers: dict, x: torch.Tensor, w: torch.Tensor):
        """One model's forward (vmapped over models); returns logits and its new BN statistics."""
        for norm in self.norms.values():
            norm.row_weight = w
        try:
            logits = functional_call(self.template, (params, buffers), (x,))
            updates = {}
            for name, norm in self.norms.items():
                if norm.update is not None:
                    mean, var, tracked = norm.update
                    updates.update(
                        {
                            f"{name}.running_mean": mean,
                            f"{name}.running_var": var,
                            f"{name}.num_batches_tracked": tracked,
                        }
                    )
        finally:
            for norm in self.norms.values():
                norm.row_weight, norm.update = None, None
        return logits, updates

    def _run(self, x: torch.Tensor, w: torch.Tensor):
        fn = torch.vmap(self._forward, in_dims=(0, 0, 0, 0), randomness="different")
        if self.autocast is not None:
            with torch.autocast(self.device.type, dtype=self.autocast):
                return fn(self.params, self.buffers, x, w)
        return fn(self.params, self.buffers, x, w)

    def train_step(self, x_all: torch.Tensor, y_all: torch.Tensor, step: Step) -> None:
        """One optimiser step: model k trains on rows step.rows[k] where step.weight[k] is 1."""
        idx, weight = step.rows.to(self.device), step.weight.to(self.device)
        x = as_float(x_all[idx])
        if self.augments is not None:
            x = torch.stack(
                [a(x[k]) if a is not None else x[k] for k, a in enumerate(self.augments)]
            )
        logits, updates = self._run(x, weight)
        k, b, c = logits.shape
        if self.losses is None:
            ce = F.cross_entropy(
                logits.float().reshape(k * b, c), y_all[idx].reshape(k * b), reduction="none"
            ).reshape(k, b)
        else:
            y = y_all[idx]
            ce = torch.stack(
                [loss.rows(logits[j].float(), y[j]) for j, loss in enumerate(self.losses)]
            )
        losses = (ce * weight).sum(1) / weight.sum(1).clamp_min(1)
        grads = torch.autograd.grad(losses.sum(), list(self.params.values()))
        self.optimizer.step(grads, step.active)
        active = torch.as_tensor(step.active, device=self.device)
        for name, value in updates.items():
            old = self.buffers[name]
            mask = active.reshape((-1,) + (1,) * (old.dim() - 1))
            self.buffers[name] = torch.where(mask, value.detach().to(old.dtype), old)

    @torch.no_grad()
    def predict(
        self, x_all: torch.Tensor, rows: Sequence[np.ndarray], batch_size: int
    ) -> list[np.ndarray]:
        """Class probabilities of each model's `rows` (eval mode, running statistics)."""
        longest = max(len(r) for r in rows)
        if longest == 0:
            return [np.zeros((0, 0), dtype=np.float32) for _ in rows]
        idx = torch.stack(
            [
                torch.as_tensor(
                    np.resize(r, longest) if len(r) else np.zeros(longest, dtype=np.int64)
                )
                for r in rows
            ]
        )
        idx = idx.to(self.device)
        ones = torch.ones(idx.shape, device=self.device)
        self.template.eval()
        try:
            parts = [
                output_probs(
                    self._run(as_float(x_all[idx[:, s]]), ones[:, s])[0].float(), self.multilabel
                )
                for s in batch_slices(longest, batch_size)
            ]
        finally:
            self.template.train()
        probs = torch.cat(parts, dim=1).cpu().numpy()
        return [probs[k, : len(r)] for k, r in enumerate(rows)]

    @torch.no_grad()
    def state_dict_of(self, k: int) -> dict[str, torch.Tensor]:
        """Model k's state dict (the names `spec.build` gives) as CPU copies, sliced out of the
        stacked tensors."""
        return {
            key: (self.params[name] if name in self.params else self.buffers[name])[k]
            .detach()
            .to("cpu", copy=True)
            for key, name in self.state_source.items()
        }

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {
            **{f"p:{k}": v for k, v in self.params.items()},
            **{f"b:{k}": v for k, v in self.buffers.items()},
        }

    @torch.no_grad()
    def keep(self, which: np.ndarray) -> None:
        if not which.any():
            return
        mask = torch.as_tensor(which, device=self.device)
        current = self._tensors()
        if self.best is None:
            self.best = {k: v.detach().clone() for k, v in current.items()}
            return
        for key, value in current.items():
            m = mask.reshape((-1,) + (1,) * (value.dim() - 1))
            self.best[key] = torch.where(m, value.detach(), self.best[key])

    @torch.no_grad()
    def restore(self, which: np.ndarray) -> None:
        if self.best is None or not which.any():
            return
        mask = torch.as_tensor(which, device=self.device)
        for key, best in self.best.items():
            kind, name = key.split(":", 1)
            store = self.params if kind == "p" else self.buffers
            m = mask.reshape((-1,) + (1,) * (best.dim() - 1))
            if kind == "p":
                store[name].copy_(torch.where(m, best, store[name]))
            else:
                store[name] = torch.where(m, best, store[name])
