"""`fold-parallel`: the folds of a run trained at once as one batched model (for CUDA).

K folds' models are stacked parameter by parameter ((K, ...) tensors) and run together with
`torch.func.functional_call` + `torch.vmap`; one backward pass gives every fold its own gradient
(the folds share nothing, so the gradient of the summed per-fold losses is each fold's gradient).

Equivalence with the sequential loop (`mer_bench.training.train_torch_fold`) is by construction:

- initialisation: fold k's model is built after `torch.manual_seed(fold.seed)`, as sequentially;
- batches: every fold gets *its own* batch sequence, drawn exactly as sequentially (its own
  `torch.Generator(seed + 1)`, a permutation of its own training rows, `batch_slices`). Folds
  differ in training size by a few rows, so at step j the K batches are padded to the longest
  with rows of weight 0 (the fold's own first training row, so no held-out sample ever enters a
  training forward pass). We chose per-fold batches over one shared batch of all samples with the
  held-out subject masked: shared batches give each fold a different (smaller, varying) batch than
  the sequential run, so its predictions would only be statistically equal; per-fold batches give
  the same predictions, up to float rounding, at the cost of a gather of K batches per step.
- loss: per fold, the mean cross-entropy over its real rows (padding weighs 0);
- normalisation: each `nn.BatchNorm*` runs as `MaskedBatchNorm`, whose batch statistics give
  padding rows zero weight and whose running statistics are kept per fold;
- optimiser: Adam / AdamW / SGD are element-wise, so torch's optimiser on the stacked tensors
  is each fold's own optimiser (`SharedStepOptimizer`, fused on CUDA) as long as all folds step
  together. When folds take different numbers of steps per epoch, `StackedOptimizer` applies the
  same formulas with per-fold step counts, and a fold without a batch at a step is left untouched
  (no update, no moment decay), exactly as if it had not stepped;
- test rows: predicted once at the end under `fixed`, after every epoch only under
  `best-on-test`.

On CPU in float32 this matches the sequential run to float rounding (tested to 1e-4 in
probabilities). Rounding differences are amplified where training is chaotic, e.g. a parameter
whose gradient is pure rounding noise (a conv bias right before BatchNorm) under Adam, which
normalises that noise into full-size steps; such runs agree statistically, not to 1e-4. Models that draw random numbers in training (dropout) get different draws under
vmap (randomness="different"), so they match only statistically. On CUDA, bf16 autocast is used
where the card allows (not `precision="fp32"`) and the card supports it: scores are statistically
equal, not bitwise.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from mer_bench import registry
from mer_bench.cards import ModelSpec, Recipe
from mer_bench.errors import MerBenchError
from mer_bench.executors import Executor, FoldContext, FoldDone
from mer_bench.folds import Fold
from mer_bench.selection import BestOnTest, needs_test_every_epoch
from mer_bench.training import EpochCallback, FoldOutput, batch_slices

PRECISIONS = ("auto", "fp32", "bf16")


class MaskedBatchNorm(nn.Module):
    """BatchNorm whose batch statistics weigh each row by `row_weight` (0 = ignore the row).

    Holds the same parameters and buffers, under the same names, as the `_BatchNorm` it replaces.
    In training it leaves the new running statistics in `self.update` (instead of writing its
    buffers in place) so a vmapped caller can return them per fold. With all weights 1 it computes
    what `F.batch_norm` computes: biased variance to normalise, unbiased for the running variance.
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
            w = torch.ones(x.shape[0], dtype=x.dtype, device=x.device) if self.row_weight is None \
                else self.row_weight.to(x.dtype)
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


class StackedOptimizer:
    """Adam / AdamW / SGD(momentum 0.9) on stacked (K, ...) parameters, per-fold step counts.

    Same update formulas as `torch.optim` (see `mer_bench.training.make_optimizer`), applied
    element-wise, so fold k evolves as its own optimiser would. Folds not `active` at a step keep
    their parameters and moments unchanged and do not count the step.
    """

    def __init__(self, recipe: Recipe, params: Sequence[torch.Tensor], n_folds: int) -> None:
        if recipe.optimizer not in ("adam", "adamw", "sgd"):
            raise MerBenchError(f"optimizer {recipe.optimizer!r} cannot train a torch model")
        self.recipe = recipe
        self.params = list(params)
        self.steps = np.zeros(n_folds, dtype=np.int64)
        self.state = [[torch.zeros_like(p) for _ in range(1 if recipe.optimizer == "sgd" else 2)]
                      for p in self.params]

    def _per_fold(self, values: np.ndarray, like: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(values, dtype=like.dtype, device=like.device).reshape(
            (-1,) + (1,) * (like.dim() - 1))

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], active: np.ndarray) -> None:
        all_active = bool(active.all())
        self.steps += active.astype(np.int64)
        lr, wd, kind = self.recipe.lr, self.recipe.weight_decay, self.recipe.optimizer
        steps = np.maximum(self.steps, 1).astype(np.float64)
        frozen = torch.as_tensor(np.flatnonzero(~active))
        for param, grad, state in zip(self.params, grads, self.state):
            saved = None if all_active else [t[frozen.to(t.device)].clone() for t in (param, *state)]
            if kind == "sgd":
                (buf,) = state
                if wd:
                    grad = grad.add(param, alpha=wd)
                buf.mul_(0.9).add_(grad)  # from zeros, the first step gives buf = grad as torch
                param.add_(buf, alpha=-lr)
            else:
                beta1, beta2, eps = 0.9, 0.999, 1e-8
                exp_avg, exp_avg_sq = state
                if kind == "adamw":
                    param.mul_(1 - lr * wd)
                elif wd:
                    grad = grad.add(param, alpha=wd)
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                step_size = self._per_fold(lr / (1 - beta1 ** steps), param)
                bc2_sqrt = self._per_fold(np.sqrt(1 - beta2 ** steps), param)
                denom = (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps)
                param.sub_(step_size * exp_avg / denom)
            if saved is not None:
                for tensor, old in zip((param, *state), saved):
                    tensor[frozen.to(tensor.device)] = old


class SharedStepOptimizer:
    """The fast path when every fold takes the same number of steps per epoch (then all folds are
    active at every step and share the step count): torch's own optimiser on the stacked
    tensors, fused on CUDA. Element-wise, so still each fold's own optimiser."""

    def __init__(self, recipe: Recipe, params: Sequence[torch.Tensor], device: torch.device) -> None:
        self.params = list(params)
        fused = {"fused": True} if device.type == "cuda" else {}
        if recipe.optimizer == "adam":
            self.optimizer = torch.optim.Adam(self.params, lr=recipe.lr,
                                              weight_decay=recipe.weight_decay, **fused)
        elif recipe.optimizer == "adamw":
            self.optimizer = torch.optim.AdamW(self.params, lr=recipe.lr,
                                               weight_decay=recipe.weight_decay, **fused)
        elif recipe.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(self.params, lr=recipe.lr, momentum=0.9,
                                             weight_decay=recipe.weight_decay, **fused)
        else:
            raise MerBenchError(f"optimizer {recipe.optimizer!r} cannot train a torch model")

    def step(self, grads: Sequence[torch.Tensor], active: np.ndarray) -> None:
        if not active.all():
            raise RuntimeError("SharedStepOptimizer needs every fold active at every step")
        for param, grad in zip(self.params, grads):
            # the fused kernels need each grad in its parameter's dtype and memory layout
            param.grad = grad.to(dtype=param.dtype).contiguous()
        self.optimizer.step()
        for param in self.params:
            param.grad = None


def same_steps_per_epoch(folds: Sequence[Fold], batch_size: int) -> bool:
    """Whether every fold cuts its training rows into the same number of batches."""
    return len({len(batch_slices(len(f.train_idx), batch_size)) for f in folds}) == 1


@dataclass
class FoldBatch:
    """K folds' models as one stacked model on `device`, ready to train and predict together."""

    spec: ModelSpec
    folds: list[Fold]
    template: nn.Module
    norms: dict[str, MaskedBatchNorm]
    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]
    optimizer: StackedOptimizer | SharedStepOptimizer
    device: torch.device
    autocast: torch.dtype | None

    @classmethod
    def build(cls, spec: ModelSpec, folds: Sequence[Fold], recipe: Recipe, num_classes: int,
              device: torch.device, autocast: torch.dtype | None = None) -> FoldBatch:
        """Initialise each fold's model as the sequential loop does, then stack them on `device`."""
        params: dict[str, torch.Tensor] = {}
        buffers: dict[str, torch.Tensor] = {}
        template = None
        for k, fold in enumerate(folds):
            torch.manual_seed(fold.seed)
            model = spec.build(num_classes)
            for store, named in ((params, model.named_parameters()), (buffers, model.named_buffers())):
                for name, tensor in named:
                    if k == 0:
                        store[name] = torch.empty((len(folds), *tensor.shape), dtype=tensor.dtype,
                                                  device=device)
                    store[name][k].copy_(tensor.detach())
            if k == 0:
                template = model.to(device)
        template.train()
        norms = mask_batchnorms(template)
        for tensor in params.values():
            tensor.requires_grad_(True)
        if same_steps_per_epoch(folds, recipe.batch_size):
            optimizer = SharedStepOptimizer(recipe, list(params.values()), device)
        else:
            optimizer = StackedOptimizer(recipe, list(params.values()), len(folds))
        return cls(spec, list(folds), template, norms, params, buffers, optimizer, device, autocast)

    def _forward(self, params: dict, buffers: dict, x: torch.Tensor, w: torch.Tensor):
        """One fold's forward (vmapped over folds); returns logits and its new BN statistics."""
        for norm in self.norms.values():
            norm.row_weight = w
        try:
            logits = functional_call(self.template, (params, buffers), (x,))
            updates = {}
            for name, norm in self.norms.items():
                if norm.update is not None:
                    mean, var, tracked = norm.update
                    updates.update({f"{name}.running_mean": mean, f"{name}.running_var": var,
                                    f"{name}.num_batches_tracked": tracked})
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

    def train_step(self, x_all: torch.Tensor, y_all: torch.Tensor, idx: torch.Tensor,
                   weight: torch.Tensor, active: np.ndarray) -> None:
        """One optimiser step: fold k trains on rows idx[k] where weight[k] is 1."""
        logits, updates = self._run(x_all[idx], weight)
        k, b, c = logits.shape
        ce = F.cross_entropy(logits.float().reshape(k * b, c), y_all[idx].reshape(k * b),
                             reduction="none").reshape(k, b)
        losses = (ce * weight).sum(1) / weight.sum(1).clamp_min(1)
        grads = torch.autograd.grad(losses.sum(), list(self.params.values()))
        self.optimizer.step(grads, active)
        for name, value in updates.items():
            self.buffers[name] = value.detach().to(self.buffers[name].dtype)

    @torch.no_grad()
    def predict(self, x_all: torch.Tensor, rows: Sequence[np.ndarray], batch_size: int) -> list[np.ndarray]:
        """Class probabilities of each fold's `rows` (eval mode, running statistics)."""
        longest = max(len(r) for r in rows)
        idx = torch.stack([torch.as_tensor(np.resize(r, longest)) for r in rows]).to(self.device)
        ones = torch.ones(idx.shape, device=self.device)
        self.template.eval()
        try:
            parts = [torch.softmax(self._run(x_all[idx[:, s]], ones[:, s])[0].float(), dim=-1)
                     for s in batch_slices(longest, batch_size)]
        finally:
            self.template.train()
        probs = torch.cat(parts, dim=1).cpu().numpy()
        return [probs[k, :len(r)] for k, r in enumerate(rows)]


def epoch_batches(folds: Sequence[Fold], generators: Sequence[torch.Generator],
                  batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor, np.ndarray]]:
    """One epoch's steps for K folds: (row index (K, B), weight (K, B), active (K,)) per step.

    Fold k's batches are exactly the sequential loop's: its generator permutes its own training
    rows and `batch_slices` cuts them. Shorter batches are padded with weight-0 rows.
    """
    per_fold = []
    for fold, gen in zip(folds, generators):
        order = torch.randperm(len(fold.train_idx), generator=gen).numpy()
        rows = fold.train_idx[order]
        per_fold.append([rows[s] for s in batch_slices(len(rows), batch_size)])
    steps = []
    for j in range(max(len(b) for b in per_fold)):
        width = max(len(b[j]) for b in per_fold if j < len(b))
        idx = np.empty((len(folds), width), dtype=np.int64)
        weight = np.zeros((len(folds), width), dtype=np.float32)
        active = np.zeros(len(folds), dtype=bool)
        for k, (fold, batches) in enumerate(zip(folds, per_fold)):
            idx[k] = fold.train_idx[0]
            if j < len(batches):
                idx[k, :len(batches[j])] = batches[j]
                weight[k, :len(batches[j])] = 1.0
                active[k] = True
        steps.append((torch.from_numpy(idx), torch.from_numpy(weight), active))
    return steps


def train_folds(spec: ModelSpec, ctx: FoldContext, folds: Sequence[Fold], x_all: torch.Tensor,
                y_all: torch.Tensor, autocast: torch.dtype | None,
                on_epoch: EpochCallback | None = None) -> list[FoldOutput]:
    """Train K folds together and predict their held-out rows as `ctx.selection` says."""
    start = time.perf_counter()
    device, recipe = x_all.device, ctx.recipe
    batch = FoldBatch.build(spec, folds, recipe, ctx.num_classes, device, autocast)
    generators = [torch.Generator().manual_seed(f.seed + 1) for f in folds]
    tests = [f.test_idx for f in folds]
    trackers = ([BestOnTest(ctx.y[f.test_idx]) for f in folds]
                if needs_test_every_epoch(ctx.selection) else None)
    for epoch in range(recipe.epochs):
        for idx, weight, active in epoch_batches(folds, generators, recipe.batch_size):
            batch.train_step(x_all, y_all, idx.to(device), weight.to(device), active)
        if trackers is not None:
            for tracker, probs in zip(trackers, batch.predict(x_all, tests, recipe.batch_size)):
                tracker.observe(epoch + 1, probs)
        if on_epoch is not None:
            on_epoch(epoch + 1, recipe.epochs)
    final = None if trackers is not None else batch.predict(x_all, tests, recipe.batch_size)
    seconds = (time.perf_counter() - start) / len(folds)
    outputs = []
    for k in range(len(folds)):
        tracker = trackers[k] if trackers is not None else None
        if tracker is not None and tracker.best_probs is not None:
            outputs.append(FoldOutput(tracker.best_probs, recipe.epochs, tracker.best_epoch, seconds))
        else:
            probs = final[k] if final is not None else batch.predict(x_all, [tests[k]], recipe.batch_size)[0]
            outputs.append(FoldOutput(probs, recipe.epochs, recipe.epochs, seconds))
    return outputs


def bytes_per_fold(spec: ModelSpec, num_classes: int) -> int:
    """Rough device memory one fold needs while training: parameters, gradients, two moments,
    a bf16 copy, and activations taken as the parameters' size again."""
    n = spec.card.num_params or sum(p.numel() for p in spec.build(num_classes).parameters())
    return int(n * (4 * 4 + 2 + 4))


class FoldParallelExecutor(Executor):
    """All folds (or chunks of them that fit in memory) trained at once as one batched model."""

    name = "fold-parallel"
    reports_epochs = True

    def __init__(self, workers: int | None = None, chunk: int | None = None,
                 precision: str = "auto") -> None:
        super().__init__(workers)
        if precision not in PRECISIONS:
            raise MerBenchError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.chunk = chunk
        self.precision = precision
        self.used: dict = {}

    def autocast_dtype(self, device: torch.device) -> torch.dtype | None:
        """bf16 autocast on CUDA cards that support it (unless fp32 is asked); never on CPU."""
        if device.type != "cuda" or self.precision == "fp32":
            return None
        if self.precision == "bf16" or torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return None

    def initial_chunk(self, spec: ModelSpec, ctx: FoldContext, n_folds: int,
                      device: torch.device) -> int:
        if self.chunk:
            return max(1, min(self.chunk, n_folds))
        if device.type != "cuda":
            return n_folds
        torch.cuda.empty_cache()  # blocks cached by earlier work count as used otherwise
        free, _ = torch.cuda.mem_get_info(device)
        return max(1, min(n_folds, int(0.8 * free) // bytes_per_fold(spec, ctx.num_classes)))

    def execute(self, ctx: FoldContext, folds: Sequence[Fold], on_done: FoldDone,
                on_epoch: EpochCallback | None = None) -> None:
        spec = registry.get_model(ctx.model)
        if spec.card.framework != "torch":
            raise MerBenchError(f"fold-parallel trains torch models; '{ctx.model}' is "
                                f"{spec.card.framework}: use --executor local")
        if not folds:
            return
        device = torch.device(ctx.device)
        autocast = self.autocast_dtype(device)
        x_all = torch.tensor(np.asarray(ctx.x), dtype=torch.float32, device=device)
        y_all = torch.tensor(np.asarray(ctx.y), dtype=torch.long, device=device)
        chunk = self.initial_chunk(spec, ctx, len(folds), device)
        self.used = {"chunk": chunk, "precision": str(autocast or torch.float32).replace("torch.", ""),
                     "oom_retries": 0}
        position = 0
        while position < len(folds):
            remaining = len(folds) - position
            size = math.ceil(remaining / math.ceil(remaining / chunk))  # balanced chunks
            part = list(folds[position:position + size])
            outputs = self._try_chunk(spec, ctx, part, x_all, y_all, autocast, on_epoch)
            if outputs is None:  # out of device memory: halve the chunk and retry it from scratch
                if chunk == 1:
                    raise MerBenchError(f"fold-parallel: one fold of '{ctx.model}' does not fit "
                                        f"on {device}; use --executor sequential")
                chunk = max(1, chunk // 2)
                self.used["chunk"] = chunk
                self.used["oom_retries"] += 1
                continue
            for fold, output in zip(part, outputs):
                on_done(fold, output)
            position += len(part)

    @staticmethod
    def _try_chunk(spec, ctx, part, x_all, y_all, autocast, on_epoch) -> list[FoldOutput] | None:
        try:
            return train_folds(spec, ctx, part, x_all, y_all, autocast, on_epoch)
        except torch.cuda.OutOfMemoryError:
            pass
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return None

    def describe(self) -> dict:
        return {"executor": self.name, "workers": self.workers, "precision": self.precision,
                **self.used}
