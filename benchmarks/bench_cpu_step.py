"""Hand-run: where one HTNet training step spends its time on this CPU, and what makes it faster.

    python benchmarks/bench_cpu_step.py                      # ~5 min on 2 idle cores, 12 loaded
    python benchmarks/bench_cpu_step.py --compile            # + torch.compile (about 2 minutes more)
    python benchmarks/bench_cpu_step.py --readme-run 10,32   # + the README's first command, timed
    python benchmarks/bench_cpu_step.py --readme-only        # only that command (~3 min idle)

The paper configuration (`htnet`, 139,582,982 parameters), 3 classes, Adam lr 5e-5, inputs
(B, 3, 28, 28) float32 on the 0-255 scale, batches indexed out of a (442, 3, 28, 28) array.
Every measurement runs in a fresh `spawn`ed process, as the `local` executor's workers do, so
thread counts and allocator settings are the process's own. The machine is shared and noisy:
variants that are compared are run interleaved in one process and reported as medians and
ratios. What is measured:

- step breakdown, 1 and 2 threads, the model before the CPU work (`--before`, read from git) and
  now: data handling, forward, backward, optimiser step, zero_grad; the first step of a fold
  (optimiser state and gradient pages are allocated there) apart from the steady ones;
- optimiser variants: torch.optim.Adam's default (single-tensor loop on CPU), foreach=True,
  fused=True, and a scratch-buffer copy of the default loop; parameters after a few real steps
  compared bit for bit with the default's;
- model-side options: channels_last, no_grad vs inference_mode for evaluation, bf16 autocast
  (time, logits error, a short training trajectory), torch.compile (opt-in), batch rows;
- process level: 1 thread vs 2, two 1-thread workers at once (the README's layout), allocator
  settings (glibc mallopt, torch's THP_MEM_ALLOC_ENABLE), process start-up (spawn, import torch,
  registry, model build);
- the README's demo: generation (`ensure_demo`) and preprocessing (the raw pipeline) into a
  temporary cache;
- a projection of the README's first command for several --epochs/--batch-size choices.

Writes benchmarks/results/cpu_step.md (and prints the same tables); `--readme-only` writes
benchmarks/results/cpu_readme_command.md.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib.util
import json
import math
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: The last commit before the CPU speed work on htnet/model.py ("before" in every table).
BEFORE_REV = "1b58dea"
POOL_ROWS, BATCH, LR, CLASSES = 442, 32, 5e-5, 3
#: The README demo: 12 subjects, 120 samples, 12 LOSO folds of ~110 training rows, 2 workers.
DEMO_FOLDS, DEMO_TRAIN_ROWS, DEMO_WORKERS = 12, 110, 2
#: Rows per training step on 110 rows for --batch-size 16, 32, 64, 128 (mer_bench.run.training.batch_slices).
ROWS_FOR_BATCH = {16: 16, 32: 28, 64: 55, 128: 110}
OPTIMIZERS = ("default", "foreach", "fused", "scratch")
#: The timed phases of a training step, in order.
PHASES = ("data", "zero_grad", "forward", "backward", "optimizer")


# ----------------------------------------------------------------------------- in the children

def _model_module(rev: str | None):
    """htnet/model.py as of git `rev` (None: the working tree's installed module)."""
    if rev is None:
        import mer_bench_htnet.model as module
        return module
    source = subprocess.run(["git", "show", f"{rev}:htnet/model.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / f"htnet_model_{rev}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def _build(module, seed: int = 0):
    import torch
    torch.manual_seed(seed)
    return module.HTNet(module.HTNetConfig(), CLASSES)


def _pool(seed: int = 0, learnable: bool = False):
    """(442, 3, 28, 28) float32 on 0-255 and labels; `learnable`: class k lifts one region."""
    import numpy as np
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, POOL_ROWS)
    x = rng.uniform(0, 255, (POOL_ROWS, 3, 28, 28)).astype(np.float32)
    if learnable:
        x = rng.normal(128, 20, x.shape).astype(np.float32)
        for k, (r, c) in enumerate([(2, 2), (2, 16), (16, 2)]):
            x[y == k, :, r:r + 10, c:c + 10] += 60.0
        x = np.clip(x, 0, 255).astype(np.float32)
    return x, y


class ScratchAdam:
    """torch.optim.Adam's single-tensor CPU step, op for op, writing its denominator into one
    reused buffer per parameter instead of two fresh parameter-sized temporaries per step."""

    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        import torch
        self.params = [p for p in params]
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.step_count = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.d = [torch.empty_like(p) for p in self.params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        import torch
        self.step_count += 1
        step = float(self.step_count)
        step_size = self.lr / (1 - self.beta1 ** step)
        bias_correction2_sqrt = (1 - self.beta2 ** step) ** 0.5
        with torch.no_grad():
            for p, m, v, d in zip(self.params, self.m, self.v, self.d):
                g = p.grad
                m.lerp_(g, 1 - self.beta1)
                v.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
                torch.sqrt(v, out=d)
                d.div_(bias_correction2_sqrt).add_(self.eps)
                p.addcdiv_(m, d, value=-step_size)


def _optimizer(name: str, params):
    import torch
    if name == "default":
        return torch.optim.Adam(params, lr=LR)
    if name == "foreach":
        return torch.optim.Adam(params, lr=LR, foreach=True)
    if name == "fused":
        return torch.optim.Adam(params, lr=LR, fused=True)
    if name == "scratch":
        return ScratchAdam(params, lr=LR)
    raise ValueError(name)


class Trainer:
    """One fold's training state: model, optimiser, data, the batch order; timed steps."""

    def __init__(self, module, optimizer: str = "default", rows: int = 28, seed: int = 0,
                 learnable: bool = False, set_to_none: bool = True) -> None:
        import numpy as np
        import torch
        start, cpu = time.perf_counter(), time.process_time()
        self.model = _build(module, seed)
        self.build_s = time.perf_counter() - start
        self.build_cpu = time.process_time() - cpu
        self.model.train()
        self.optimizers = {optimizer: _optimizer(optimizer, self.model.parameters())}
        self.opt = self.optimizers[optimizer]
        self.x_np, self.y_np = _pool(seed, learnable)
        start = time.perf_counter()
        self.x = torch.as_tensor(self.x_np[:DEMO_TRAIN_ROWS])         # a fold's rows, once
        self.to_tensor_s = time.perf_counter() - start
        self.y = torch.as_tensor(self.y_np[:DEMO_TRAIN_ROWS])
        self.rows, self.set_to_none = rows, set_to_none
        self.rng = np.random.default_rng(seed)
        self.autocast = False
        self.memory_format = torch.contiguous_format

    def use(self, optimizer: str) -> None:
        """Step with `optimizer` from now on (its own state; timing only: the weights see both)."""
        if optimizer not in self.optimizers:
            self.optimizers[optimizer] = _optimizer(optimizer, self.model.parameters())
        self.opt = self.optimizers[optimizer]

    def step(self) -> dict[str, float]:
        import torch
        import torch.nn.functional as F
        marks = [(time.perf_counter(), time.process_time())]
        idx = torch.as_tensor(self.rng.permutation(DEMO_TRAIN_ROWS)[: self.rows])
        xb, yb = self.x[idx].contiguous(memory_format=self.memory_format), self.y[idx]
        marks.append((time.perf_counter(), time.process_time()))
        self.opt.zero_grad(set_to_none=self.set_to_none)
        marks.append((time.perf_counter(), time.process_time()))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.autocast):
            logits = self.model(xb)
        loss = F.cross_entropy(logits.float(), yb)
        marks.append((time.perf_counter(), time.process_time()))
        loss.backward()
        marks.append((time.perf_counter(), time.process_time()))
        self.opt.step()
        marks.append((time.perf_counter(), time.process_time()))
        self.last_loss = float(loss.detach())
        out = {}
        for i, phase in enumerate(PHASES):
            out[phase] = marks[i + 1][0] - marks[i][0]
            out[f"{phase}_cpu"] = marks[i + 1][1] - marks[i][1]
        out["total"], out["cpu"] = marks[-1][0] - marks[0][0], marks[-1][1] - marks[0][1]
        return out


def _median(steps: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(s[k] for s in steps) for k in steps[0]}


def _interleaved(trainers: dict[str, Trainer], steps: int) -> dict[str, dict[str, Any]]:
    """First step of each (cold), then `steps` steady steps taken in turn; medians."""
    cold = {name: t.step() for name, t in trainers.items()}
    steady: dict[str, list] = {name: [] for name in trainers}
    for _ in range(steps):
        for name, t in trainers.items():
            steady[name].append(t.step())
    return {name: {"build": t.build_s, "cold": cold[name], "steady": _median(steady[name])}
            for name, t in trainers.items()}


def _set_threads(threads: int) -> None:
    import torch
    torch.set_num_threads(threads)


def probe_breakdown(threads: int, before: str | None, steps: int, extras: bool = True) -> dict:
    """Before vs now, default Adam, 28-row steps; `extras`: data handling, eval, channels_last."""
    import numpy as np
    import torch
    _set_threads(threads)
    impls = {"now": _model_module(None)}
    if before:
        impls = {"before": _model_module(before), **impls}
    trainers = {name: Trainer(m) for name, m in impls.items()}
    if before:
        trainers["before"].model.load_state_dict(trainers["now"].model.state_dict())
    out = _interleaved(trainers, steps)
    if not extras:
        return out
    x_np, _ = _pool()
    data: dict[str, float] = {}
    reps = 200
    start = time.perf_counter()
    for _ in range(reps):
        torch.from_numpy(x_np[np.random.default_rng(0).permutation(POOL_ROWS)[:BATCH]])
    data["numpy fancy index 32 rows + from_numpy"] = (time.perf_counter() - start) / reps
    xt = torch.as_tensor(x_np)
    start = time.perf_counter()
    for _ in range(reps):
        xt[torch.randperm(POOL_ROWS)[:BATCH]]
    data["tensor index 32 rows (randperm)"] = (time.perf_counter() - start) / reps
    start = time.perf_counter()
    for _ in range(20):
        torch.tensor(x_np)
    data["torch.tensor copy of all 442 rows"] = (time.perf_counter() - start) / 20
    from mer_bench.data.contract import FALLBACK_POINTS
    from mer_bench_htnet.regions import tile_regions
    points = np.repeat(FALLBACK_POINTS[None], POOL_ROWS, 0)
    start = time.perf_counter()
    tile_regions(x_np, points)
    data["region tiling of 442 rows (once per run)"] = time.perf_counter() - start
    out["data_ops"] = data
    # Evaluation: a held-out subject's ~10 rows, and 32 rows, under no_grad vs inference_mode.
    evals = {}
    for name, t in trainers.items():
        t.model.eval()
        for rows in (10, 32):
            xb = torch.as_tensor(x_np[:rows])
            for mode_name, mode in (("no_grad", torch.no_grad), ("inference_mode", torch.inference_mode)):
                times = []
                for _ in range(5):
                    with mode():
                        start = time.perf_counter()
                        t.model(xb)
                        times.append(time.perf_counter() - start)
                evals[f"{name} {rows} rows {mode_name}"] = statistics.median(times[1:])
        t.model.train()
    out["eval"] = evals
    # channels_last: input and model in torch.channels_last memory format, same steps.
    cl = {}
    for name, t in trainers.items():
        t.model.to(memory_format=torch.channels_last)
        t.memory_format = torch.channels_last
        t.step()
        cl[name] = statistics.median(t.step()["total"] for _ in range(max(2, steps // 2)))
    out["channels_last_total"] = cl
    return out


def probe_optimizers(threads: int, steps: int, variants: tuple[str, ...] = OPTIMIZERS) -> dict:
    """Each variant from the same initial weights on the same batches; weights compared bit for
    bit with the default's, and the trained models' predicted classes on 442 inputs."""
    import torch
    _set_threads(threads)
    module = _model_module(None)
    init = {k: v.clone() for k, v in _build(module).state_dict().items()}
    x = torch.as_tensor(_pool(1)[0])
    results, finals, preds = {}, {}, {}
    for name in variants:
        try:
            trainer = Trainer(module, optimizer=name)
        except (RuntimeError, TypeError, ValueError) as exc:  # e.g. fused unsupported on CPU
            results[name] = {"error": str(exc).splitlines()[0]}
            continue
        trainer.model.load_state_dict(init)
        cold = trainer.step()
        steady = [trainer.step() for _ in range(steps)]
        results[name] = {"cold": cold, "steady": _median(steady)}
        finals[name] = {k: v.detach().clone() for k, v in trainer.model.named_parameters()}
        trainer.model.eval()
        with torch.no_grad():
            preds[name] = torch.cat([trainer.model(x[i:i + 64]).argmax(1) for i in range(0, POOL_ROWS, 64)])
        del trainer
        gc.collect()
    for name, params in finals.items():
        diffs = {k: float((v - finals["default"][k]).abs().max()) for k, v in params.items()}
        worst = max(diffs, key=diffs.get)
        results[name].update(
            identical=all(torch.equal(v, finals["default"][k]) for k, v in params.items()),
            max_abs_diff=diffs[worst], max_abs_diff_at=worst,
            same_class=float((preds[name] == preds["default"]).float().mean()))
    results["steps_compared"] = steps + 1
    return results


def probe_bf16(threads: int, steps: int) -> dict:
    """fp32 vs bf16 autocast: steady step times, logits error, a short training trajectory."""
    import torch
    _set_threads(threads)
    module = _model_module(None)
    fp32, bf16 = Trainer(module, learnable=True), Trainer(module, learnable=True)
    bf16.model.load_state_dict(fp32.model.state_dict())
    bf16.autocast = True
    cold = {"fp32": fp32.step(), "bf16": bf16.step()}
    losses = {"fp32": [fp32.last_loss], "bf16": [bf16.last_loss]}
    times = {"fp32": [], "bf16": []}
    for _ in range(steps):
        for name, t in (("fp32", fp32), ("bf16", bf16)):
            times[name].append(t.step())
            losses[name].append(t.last_loss)
    x = torch.as_tensor(fp32.x_np)
    fp32.model.eval()
    with torch.no_grad():
        ref = torch.cat([fp32.model(x[i:i + 64]) for i in range(0, POOL_ROWS, 64)])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = torch.cat([fp32.model(x[i:i + 64]) for i in range(0, POOL_ROWS, 64)]).float()
        bf16.model.eval()
        trained_bf16 = torch.cat([bf16.model(x[i:i + 64]) for i in range(0, POOL_ROWS, 64)])
    params_diff = max(float((a - b).abs().max()) for a, b in
                      zip(fp32.model.state_dict().values(), bf16.model.state_dict().values()))
    return {
        "cold": cold, "steady": {k: _median(v) for k, v in times.items()}, "losses": losses,
        "logits_max_abs_diff": float((ref - low).abs().max()),
        "logits_max_abs": float(ref.abs().max()),
        "argmax_agreement": float((ref.argmax(1) == low.argmax(1)).float().mean()),
        "after_training_argmax_agreement": float((ref.argmax(1) == trained_bf16.argmax(1)).float().mean()),
        "after_training_params_max_abs_diff": params_diff, "bf16_cpu_flag": _cpu_has("avx512_bf16"),
    }


def probe_rows(threads: int, steps: int, rows: tuple[int, ...] = tuple(sorted(set(ROWS_FOR_BATCH.values()))),
               optimizers: tuple[str, ...] = ("default", "fused")) -> dict:
    """Steady step time per rows per step (what --batch-size gives on ~110 training rows), for
    each optimiser, on one model (steps alternate between the optimisers)."""
    _set_threads(threads)
    trainer = Trainer(_model_module(None), optimizer=optimizers[0])
    for name in optimizers:
        trainer.use(name)
        trainer.step()
    out: dict[str, dict] = {name: {} for name in optimizers}
    for n in rows:
        trainer.rows = n
        times: dict[str, list] = {name: [] for name in optimizers}
        for _ in range(steps):
            for name in optimizers:
                trainer.use(name)
                times[name].append(trainer.step())
        for name in optimizers:
            out[name][n] = _median(times[name])
    return out


def _mallopt() -> bool:
    """glibc: keep freed blocks up to 32 MB in the heap for reuse (no fresh zeroed pages)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 32 << 20)) and bool(libc.mallopt(m_trim_threshold, 2**31 - 1))


def probe_folds(threads: int, steps: int, optimizer: str, mallopt: bool, set_to_none: bool = True) -> dict:
    """Two folds in one worker, as a `local` worker runs them: build, first step, steady steps."""
    _set_threads(threads)
    applied = _mallopt() if mallopt else False
    module = _model_module(None)
    folds = []
    for fold in range(2):
        trainer = Trainer(module, optimizer=optimizer, seed=fold, set_to_none=set_to_none)
        cold = trainer.step()
        steady = _median([trainer.step() for _ in range(steps)])
        folds.append({"build": trainer.build_s, "cold": cold["total"], "steady": steady["total"],
                      "build_cpu": trainer.build_cpu, "cold_cpu": cold["cpu"],
                      "steady_cpu": steady["cpu"], "to_tensor": trainer.to_tensor_s})
        del trainer
        gc.collect()
    return {"folds": folds, "mallopt": applied, "thp": os.environ.get("THP_MEM_ALLOC_ENABLE")}


def probe_startup() -> dict:
    """Wall-clock stamps of a fresh spawned worker: entered, torch imported, registry, built."""
    stamps = {"entered": time.time(), "entered_cpu": time.process_time()}
    import torch  # noqa: F401
    stamps["torch"], stamps["torch_cpu"] = time.time(), time.process_time()
    from mer_bench.core import registry
    spec = registry.get_model("htnet")
    stamps["registry"], stamps["registry_cpu"] = time.time(), time.process_time()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    spec.build(CLASSES)
    stamps["built"], stamps["built_cpu"] = time.time(), time.process_time()
    return stamps


def probe_compile(threads: int, steps: int) -> dict:
    import torch
    import torch.nn.functional as F
    _set_threads(threads)
    module = _model_module(None)
    eager = _build(module)
    x_np, y_np = _pool()
    x, y = torch.as_tensor(x_np[:28]), torch.as_tensor(y_np[:28])

    def fwd_bwd(model) -> float:
        start = time.perf_counter()
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        return time.perf_counter() - start

    compiled = torch.compile(eager)
    try:
        first = fwd_bwd(compiled)
    except Exception as exc:  # noqa: BLE001 - report any compiler failure as a result
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
    fwd_bwd(compiled)
    fwd_bwd(eager)
    times = {"eager": [], "compiled": []}
    for _ in range(steps):
        times["eager"].append(fwd_bwd(eager))
        times["compiled"].append(fwd_bwd(compiled))
    return {"compile_and_first_step": first, **{k: statistics.median(v) for k, v in times.items()}}


PROBES = {f.__name__: f for f in (probe_breakdown, probe_optimizers, probe_bf16, probe_rows,
                                  probe_folds, probe_startup, probe_compile)}


def _child(queue, probe: str, kwargs: dict) -> None:
    try:
        queue.put(("ok", PROBES[probe](**kwargs)))
    except BaseException as exc:  # noqa: BLE001 - sent back to the parent, which reports it
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def _cpu_has(flag: str) -> bool:
    try:
        return flag in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


# ----------------------------------------------------------------------------- in the parent

def run_probes(jobs: list[tuple[str, dict]], env: dict[str, str] | None = None) -> list[Any]:
    """Start one spawned process per job at once (environment `env` added); their results."""
    ctx = multiprocessing.get_context("spawn")
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        queues, processes = [], []
        for probe, kwargs in jobs:
            queue = ctx.Queue()
            process = ctx.Process(target=_child, args=(queue, probe, kwargs))
            process.start()
            queues.append(queue)
            processes.append(process)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    results = []
    for queue, process in zip(queues, processes):
        status, value = queue.get()
        process.join()
        if status != "ok":
            raise RuntimeError(value)
        results.append(value)
    return results


def run_probe(probe: str, env: dict[str, str] | None = None, **kwargs) -> Any:
    return run_probes([(probe, kwargs)], env)[0]


def measure_startup() -> dict[str, float]:
    start = time.time()
    stamps = run_probe("probe_startup")
    out = {"spawn to worker code": (stamps["entered"] - start, stamps["entered_cpu"])}
    previous = "entered"
    for key, label in (("torch", "import torch"), ("registry", "registry (entry points)"),
                       ("built", "build htnet")):
        out[label] = (stamps[key] - stamps[previous], stamps[f"{key}_cpu"] - stamps[f"{previous}_cpu"])
        previous = key
    out["total"] = (stamps["built"] - start, stamps["built_cpu"])
    return out


def measure_demo() -> dict[str, float]:
    """The README's first command's data: demo generation, then the raw pipeline, fresh cache."""
    from mer_bench.core import registry
    from mer_bench.data.sources import SourceOptions
    from mer_bench.data.sources.demo import DemoSource, demo_config, ensure_demo

    import resource

    def cpu_now() -> float:
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    cache = Path(tempfile.mkdtemp(prefix="bench_cpu_step_"))
    try:
        extra = {"flow_method": "tvl1", "progress": False, "difficulty": "standard"}
        options = SourceOptions(cache_dir=cache, workers=None, seed=0, extra=extra)
        start, cpu = time.perf_counter(), cpu_now()
        ensure_demo(cache, demo_config(options))
        generated, generated_cpu = time.perf_counter() - start, cpu_now() - cpu
        source = DemoSource(options)
        start = time.perf_counter()
        samples = registry.get_protocol("megc2019").protocol.samples(source)
        arrays = source.arrays(samples)
        prepared = time.perf_counter() - start
        start = time.perf_counter()
        source.arrays(samples)
        cached = time.perf_counter() - start
        start = time.perf_counter()
        registry.get_model("htnet").prepare_inputs(arrays)
        tiled = time.perf_counter() - start
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    # The raw pipeline's pool workers are children of a forkserver, invisible to getrusage: no
    # CPU figure for preprocessing.
    return {"samples": len(samples), "generate": (generated, generated_cpu),
            "preprocess": (prepared, None), "preprocess (cached)": (cached, None),
            "region tiling": (tiled, None)}


def readme_run(epochs: int, batch: int) -> dict:
    """The README's first command, as a reader types it, in a fresh home (so a fresh cache and
    results database, and no MER_BENCH_* settings), timed end to end."""
    home = Path(tempfile.mkdtemp(prefix="bench_home_"))
    summary = home / "summary.json"
    exe = shutil.which("mer-bench") or str(Path(sys.executable).with_name("mer-bench"))
    cmd = [exe, "run", "--model", "htnet", "--protocol", "megc2019", "--source", "demo",
           "--epochs", str(epochs), "--batch-size", str(batch), "--json", str(summary)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MER_BENCH_")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
               XDG_DATA_HOME=str(home / ".local" / "share"))
    import resource
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=home)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    try:
        if proc.returncode != 0:
            return {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"], "wall": wall}
        data = json.loads(summary.read_text())
        result = {"wall": wall, "cpu": cpu, "uf1": data["uf1"], "uar": data["uar"],
                  "load_before": load_before, "load": os.getloadavg()[0]}
        from mer_bench.results.store import Store  # the run's own record: its estimate and fold time
        stores = list(home.rglob("results.sqlite"))
        if stores:
            with Store(stores[0], read_only=True) as store:
                record = store.runs()[-1]
                result.update(estimate=record.estimated_seconds, training=record.wall_seconds)
        return result
    finally:
        shutil.rmtree(home, ignore_errors=True)


def readme_only(runs: list[str], out: Path) -> None:
    """Only the README's first command (a few minutes), written to its own results file."""
    import torch

    r = Report()
    r.add("# The README's first command on this machine (benchmarks/bench_cpu_step.py --readme-only)")
    r.add()
    r.add(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, python {platform.python_version()}. Each run: "
          "`mer-bench run --model htnet --protocol megc2019 --source demo --epochs E "
          "--batch-size B` in a fresh home (demo generated and preprocessed inside the time, "
          "fresh results database), after installation. 'estimate' is the ETA the run printed "
          "before training and stored on the run; 'training' the run's stored wall time.")
    r.add()
    rows = []
    for spec in runs:
        e, b = (int(v) for v in spec.split(","))
        res = readme_run(e, b)
        if "error" in res:
            rows.append([f"--epochs {e} --batch-size {b}", f"failed after {res['wall']:.0f} s: "
                         f"{res['error']}", "", "", "", "", "", ""])
            continue
        rows.append([f"--epochs {e} --batch-size {b}", f"{res['wall']:.0f} s",
                     f"{res['cpu']:.0f} s",
                     "" if res.get("estimate") is None else f"{res['estimate']:.0f} s",
                     "" if res.get("training") is None else f"{res['training']:.0f} s",
                     f"{res['load_before']:.1f} -> {res['load']:.1f}",
                     f"{res['uf1']:.4f}", f"{res['uar']:.4f}"])
        print(rows[-1], flush=True)
    r.table(["flags", "wall (all)", "CPU (all processes)", "estimate", "training",
             "load average", "UF1", "UAR"], rows)
    r.add("Target (issue 13): under 300 s wall on this 2-core machine. The load average is "
          "the machine's, shared with other work: a wall time at load above 2 carries that load.")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(r.lines) + "\n")
    print(f"wrote {out}")


def project(e: int, b: int, fold_step: float, overhead_per_fold: float, fixed: float) -> float:
    """Wall seconds of the README command: fixed costs + folds per worker x (overhead + steps)."""
    steps = math.ceil(DEMO_TRAIN_ROWS / b) * e
    folds_per_worker = math.ceil(DEMO_FOLDS / DEMO_WORKERS)
    return fixed + folds_per_worker * (overhead_per_fold + steps * fold_step)


# ----------------------------------------------------------------------------- report

class Report:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        self.add("| " + " | ".join(header) + " |")
        self.add("|" + "---|" * len(header))
        for row in rows:
            self.add("| " + " | ".join(_fmt(v) for v in row) + " |")
        self.add()


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v * 1000:.0f} ms" if v < 10 else f"{v:.0f} s"
    return str(v)


def _ms(v: float) -> str:
    return f"{v * 1000:.0f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", default=BEFORE_REV, help="git revision of htnet/model.py for 'before' ('' to skip)")
    p.add_argument("--steps", type=int, default=5, help="steady steps per measurement")
    p.add_argument("--compile", action="store_true", help="also time torch.compile (minutes)")
    p.add_argument("--skip-demo", action="store_true")
    p.add_argument("--readme-run", action="append", default=[], metavar="E,B",
                   help="also run the README's first command with --epochs E --batch-size B")
    p.add_argument("--readme-only", action="store_true",
                   help="only the README's first command (--readme-run E,B; default 10,32), "
                        "written to benchmarks/results/cpu_readme_command.md")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    results = ROOT / "benchmarks" / "results"
    if args.readme_only:
        readme_only(args.readme_run or ["10,32"], args.out or results / "cpu_readme_command.md")
        return
    args.out = args.out or results / "cpu_step.md"
    import torch

    began = time.perf_counter()
    load0 = os.getloadavg()
    r = Report()
    r.add("# HTNet training step on the CPU (benchmarks/bench_cpu_step.py)")
    r.add()
    r.add(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, python {platform.python_version()}, avx512_bf16 "
          f"{_cpu_has('avx512_bf16')}; load average at start {load0[0]:.1f} (a shared machine: "
          "compare within a table, not across runs). Paper configuration (139,582,982 "
          f"parameters), Adam lr 5e-5, float32, steps of 28 rows (--batch-size 32 on 110 rows) "
          f"unless stated; medians of {args.steps} steady steps; 'before' is htnet/model.py at "
          f"{args.before or '(skipped)'}.")
    r.add()

    # 1. breakdown, 1 and 2 threads
    phases = list(PHASES) + ["total"]
    breakdown = {t: run_probe("probe_breakdown", threads=t, before=args.before or None,
                              steps=args.steps if t == 1 else max(3, args.steps - 2), extras=t == 1)
                 for t in (1, 2)}
    r.add("## Step breakdown (default torch.optim.Adam), ms: wall / process CPU")
    r.add()
    rows = []
    for t, res in breakdown.items():
        for impl in [k for k in ("before", "now") if k in res]:
            s, c = res[impl]["steady"], res[impl]["cold"]
            rows.append([f"{t}", impl] + [f"{_ms(s[k])} / {_ms(s[k + '_cpu' if k != 'total' else 'cpu'])}"
                                          for k in phases]
                        + [f"{_ms(c['total'])} / {_ms(c['cpu'])}", _ms(res[impl]["build"])])
    r.table(["threads", "model"] + phases + ["first step of a fold", "build model (wall)"], rows)
    r.add("Process CPU time counts all of the process's threads (at 2 threads it includes OpenMP "
          "spinning); other tenants of a shared machine inflate it far less than wall time. On one "
          "thread it is what an idle machine's wall clock shows.")
    r.add()
    for t, res in breakdown.items():
        if "before" in res:
            b, n = res["before"]["steady"], res["now"]["steady"]
            for kind, sfx in (("wall", ""), ("CPU", "_cpu")):
                fb_b = b["forward" + sfx] + b["backward" + sfx]
                fb_n = n["forward" + sfx] + n["backward" + sfx]
                tot = "total" if kind == "wall" else "cpu"
                r.add(f"- {t} thread(s), {kind}: forward+backward {_ms(fb_b)} -> {_ms(fb_n)} ms "
                      f"(x{fb_b / fb_n:.2f}); whole step {_ms(b[tot])} -> {_ms(n[tot])} ms "
                      f"(x{b[tot] / n[tot]:.2f})")
    r.add()
    r.add("Data handling (1 thread), ms:")
    r.add()
    r.table(["operation", "ms"], [[k, f"{v * 1000:.2f}"] for k, v in breakdown[1]["data_ops"].items()])
    r.add("Evaluation forward (1 thread), ms:")
    r.add()
    r.table(["model, rows, mode", "ms"], [[k, _ms(v)] for k, v in breakdown[1]["eval"].items()])
    r.add("torch.channels_last (input and model), whole step (1 thread), ms: " + ", ".join(
        f"{k} {_ms(v)} (contiguous {_ms(breakdown[1][k]['steady']['total'])})"
        for k, v in breakdown[1]["channels_last_total"].items()))
    r.add()

    # 2. optimisers
    opts = {1: run_probe("probe_optimizers", threads=1, steps=args.steps),
            2: run_probe("probe_optimizers", threads=2, steps=max(3, args.steps - 2),
                         variants=("default", "fused"))}
    r.add("## Optimiser variants (model now), optimiser step in ms: wall / process CPU")
    r.add()
    rows = []
    for name in OPTIMIZERS:
        row = [name]
        for t in (1, 2):
            res = opts[t].get(name, {"error": "not run"})
            row += ([res["error"], ""] if "error" in res else
                    [f"{_ms(res['steady']['optimizer'])} / {_ms(res['steady']['optimizer_cpu'])}",
                     f"{_ms(res['cold']['optimizer'])} / {_ms(res['cold']['optimizer_cpu'])}"])
        for t in (1, 2):
            res = opts[t].get(name, {})
            if "identical" not in res:
                row.append("")
            elif res["identical"]:
                row.append("identical")
            else:
                row.append(f"max abs diff {res['max_abs_diff']:.3g} ({res['max_abs_diff_at']}); "
                           f"same class on {res['same_class']:.1%} of 442 inputs")
        rows.append(row)
    r.table(["optimiser", "1 thread", "1 thread, first step", "2 threads", "2 threads, first step",
             f"weights after {opts[1]['steps_compared']} steps vs default, 1 thread",
             f"same after {opts[2]['steps_compared']} steps, 2 threads"], rows)
    r.add("default = torch.optim.Adam(params, lr) (on CPU: the single-tensor for-loop); scratch = "
          "the same ops with one reused denominator buffer per parameter (this script's ScratchAdam).")
    r.add()

    # 3. rows per step, threads and workers
    steps_rows = max(3, args.steps - 2)
    solo = run_probe("probe_rows", threads=1, steps=steps_rows)
    pair = run_probes([("probe_rows", dict(threads=1, steps=args.steps, rows=(28,)))] * DEMO_WORKERS)
    conc = {o: statistics.mean(w[o][28]["total"] for w in pair) / solo[o][28]["total"]
            for o in ("default", "fused")}
    conc_cpu = {o: statistics.mean(w[o][28]["cpu"] for w in pair) / solo[o][28]["cpu"]
                for o in ("default", "fused")}
    r.add("## Rows per step (1 thread, model now), whole step in ms")
    r.add()
    r.table(["rows (batch size on 110 rows)", "default Adam", "fused Adam", "fwd+bwd (fused run)",
             "default Adam, CPU", "fused Adam, CPU"],
            [[f"{rows} (--batch-size {b})", _ms(solo["default"][rows]["total"]),
              _ms(solo["fused"][rows]["total"]),
              _ms(solo["fused"][rows]["forward"] + solo["fused"][rows]["backward"]),
              _ms(solo["default"][rows]["cpu"]), _ms(solo["fused"][rows]["cpu"])]
             for b, rows in ROWS_FOR_BATCH.items()])
    r.add("## Threads and workers (model now, 28 rows), whole step in ms")
    r.add()
    pair_ms = {o: statistics.mean(w[o][28]["total"] for w in pair) for o in ("default", "fused")}
    pair_cpu = {o: statistics.mean(w[o][28]["cpu"] for w in pair) for o in ("default", "fused")}
    r.table(["layout", "default Adam", "fused Adam", "default, CPU", "fused, CPU",
             "fold-steps per second (fused, wall)"], [
        ["1 process x 1 thread", _ms(solo["default"][28]["total"]), _ms(solo["fused"][28]["total"]),
         _ms(solo["default"][28]["cpu"]), _ms(solo["fused"][28]["cpu"]),
         f"{1 / solo['fused'][28]['total']:.2f}"],
        [f"{DEMO_WORKERS} processes x 1 thread at once (the README's layout)", _ms(pair_ms["default"]),
         _ms(pair_ms["fused"]), _ms(pair_cpu["default"]), _ms(pair_cpu["fused"]),
         f"{DEMO_WORKERS / pair_ms['fused']:.2f}"],
        ["1 process x 2 threads (tables above)", _ms(opts[2]["default"]["steady"]["total"]),
         _ms(opts[2]["fused"]["steady"]["total"]), _ms(opts[2]["default"]["steady"]["cpu"]),
         _ms(opts[2]["fused"]["steady"]["cpu"]), f"{1 / opts[2]['fused']['steady']['total']:.2f}"],
    ])
    r.add(f"Two 1-thread workers at once: each step x{conc['default']:.2f} (default Adam) and "
          f"x{conc['fused']:.2f} (fused) in wall time, x{conc_cpu['default']:.2f} and "
          f"x{conc_cpu['fused']:.2f} in CPU time (shared memory bandwidth and caches; the wall "
          "ratio also holds other tenants' load).")
    r.add()

    # 4. allocator and fold start
    alloc_steps = 2
    alloc = {
        "plain": run_probe("probe_folds", threads=1, steps=alloc_steps, optimizer="fused", mallopt=False),
        "mallopt (32 MB mmap threshold, no trim)": run_probe(
            "probe_folds", threads=1, steps=alloc_steps, optimizer="fused", mallopt=True),
        "THP_MEM_ALLOC_ENABLE=1": run_probe(
            "probe_folds", env={"THP_MEM_ALLOC_ENABLE": "1"}, threads=1, steps=alloc_steps,
            optimizer="fused", mallopt=False),
        "zero_grad(set_to_none=False)": run_probe(
            "probe_folds", threads=1, steps=alloc_steps, optimizer="fused", mallopt=False,
            set_to_none=False),
    }
    r.add("## Allocator and fold start (1 thread, fused Adam, two folds in one worker), ms")
    r.add()
    r.table(["setting", "fold 1 build", "fold 1 first step", "fold 1 steady", "fold 2 build",
             "fold 2 first step", "fold 2 steady"],
            [[k] + [_ms(v["folds"][f][x]) for f in (0, 1) for x in ("build", "cold", "steady")]
             for k, v in alloc.items()])

    # 5. bf16, compile
    v = run_probe("probe_bf16", threads=1, steps=args.steps)
    fb = {k: v["steady"][k]["forward_cpu"] + v["steady"][k]["backward_cpu"] for k in ("fp32", "bf16")}
    r.add("## bf16 autocast on the CPU (1 thread, model now, default Adam)")
    r.add()
    r.add(f"forward+backward {_ms(fb['fp32'])} ms fp32 vs {_ms(fb['bf16'])} ms bf16 CPU time "
          f"(x{fb['fp32'] / fb['bf16']:.2f}); whole step {_ms(v['steady']['fp32']['cpu'])} vs "
          f"{_ms(v['steady']['bf16']['cpu'])} ms CPU. Accuracy: on 442 inputs, bf16 logits differ "
          f"from fp32 by up to {v['logits_max_abs_diff']:.3g} (largest |logit| "
          f"{v['logits_max_abs']:.3g}), same predicted class for {v['argmax_agreement']:.1%}. "
          f"Trained {len(v['losses']['fp32'])} steps from the same weights on the same batches "
          f"(learnable synthetic data): losses fp32 {[round(x, 4) for x in v['losses']['fp32']]}, "
          f"bf16 {[round(x, 4) for x in v['losses']['bf16']]}; the weights then differ by up to "
          f"{v['after_training_params_max_abs_diff']:.3g} and predict the same class for "
          f"{v['after_training_argmax_agreement']:.1%} of the 442 inputs.")
    r.add()
    if args.compile:
        comp = run_probe("probe_compile", threads=1, steps=args.steps)
        r.add("## torch.compile (1 thread, forward+backward of 28 rows)")
        r.add()
        if "error" in comp:
            r.add(f"failed: {comp['error']}")
        else:
            r.add(f"compile + first step {comp['compile_and_first_step']:.0f} s; then eager "
                  f"{_ms(comp['eager'])} ms vs compiled {_ms(comp['compiled'])} ms "
                  f"(x{comp['eager'] / comp['compiled']:.2f}).")
        r.add()
    else:
        r.add("torch.compile: not run (add --compile).")
        r.add()

    # 6. start-up and demo
    startup = measure_startup()
    r.add("## Worker start-up (spawned process), ms")
    r.add()
    r.table(["phase", "wall", "CPU of the worker"], [[k, _ms(w), _ms(c)] for k, (w, c) in startup.items()])
    demo = None if args.skip_demo else measure_demo()
    if demo:
        r.add(f"## README demo data ({demo['samples']} samples, fresh cache), s")
        r.add()
        r.table(["phase", "wall s", "CPU s (all processes)"],
                [[k, f"{w:.2f}", "" if c is None else f"{c:.2f}"] for k, (w, c) in
                 ((k, v) for k, v in demo.items() if k != "samples")])

    # 7. projection of the README command
    fold2 = alloc["plain"]["folds"][1]
    overhead = fold2["build"] + fold2["cold"] - fold2["steady"]
    overhead_cpu = fold2["build_cpu"] + fold2["cold_cpu"] - fold2["steady_cpu"]
    # Fixed costs: demo generation (one process), preprocessing (its pool), one worker's start-up
    # (the workers start together), and the CLI's own torch import and registry.
    gen, prep = (demo["generate"], demo["preprocess"]) if demo else ((8.0, 8.0), (8.0, None))
    fixed = gen[0] + prep[0] + startup["total"][0] + startup["import torch"][0] + startup["registry (entry points)"][0]
    fixed_cpu = (gen[1] + prep[0] + startup["total"][1]
                 + startup["import torch"][1] + startup["registry (entry points)"][1])
    data_s = gen[0] + prep[0]
    before_ratio = (breakdown[1]["before"]["steady"]["cpu"] / breakdown[1]["now"]["steady"]["cpu"]
                    if args.before else None)
    r.add("## Projected wall time of the README's first command")
    r.add()
    r.add(f"`mer-bench run --model htnet --protocol megc2019 --source demo --epochs E --batch-size B`: "
          f"{DEMO_FOLDS} folds over {DEMO_WORKERS} workers x 1 thread, ~{DEMO_TRAIN_ROWS} training "
          f"rows per fold, steps per fold = ceil(110 / B) x E, {math.ceil(DEMO_FOLDS / DEMO_WORKERS)} "
          f"folds per worker. Per step: the 1-thread time at that row count (rows table) x the "
          f"two-workers slowdown; per fold the model build and first-step overhead "
          f"({overhead:.1f} s wall, {overhead_cpu:.1f} s CPU); fixed {fixed:.0f} s wall, "
          f"{fixed_cpu:.0f} s CPU (demo generation and preprocessing {data_s:.0f} s wall, worker "
          "start-up, the CLI's own imports; preprocessing counted in wall time in both). 'wall': "
          "this run's wall times, with whatever else the machine was running; 'CPU': the same "
          "from CPU times, what an otherwise idle machine gives. 'before': the model before the "
          f"CPU work (step CPU ratio x{before_ratio or 1:.2f} from the breakdown), default Adam.")
    r.add()
    rows = []
    for e, b in ((10, 32), (12, 32), (8, 32), (6, 32), (10, 64), (16, 64), (20, 128)):
        n = ROWS_FOR_BATCH[b]
        row = [f"--epochs {e} --batch-size {b}", math.ceil(DEMO_TRAIN_ROWS / b) * e]
        for key, factor, over, fix in (("total", conc, overhead, fixed),
                                       ("cpu", conc_cpu, overhead_cpu, fixed_cpu)):
            t_default = solo["default"][n][key] * factor["default"]
            t_fused = solo["fused"][n][key] * factor["fused"]
            row += [f"{project(e, b, t_default * before_ratio, over, fix):.0f} s" if before_ratio else "",
                    f"{project(e, b, t_default, over, fix):.0f} s",
                    f"{project(e, b, t_fused, over, fix):.0f} s"]
        rows.append(row)
    r.table(["flags", "steps per fold", "wall: before, default Adam", "wall: now, default Adam",
             "wall: now, fused Adam", "CPU: before, default Adam", "CPU: now, default Adam",
             "CPU: now, fused Adam"], rows)

    for spec in args.readme_run:
        e, b = (int(v) for v in spec.split(","))
        res = readme_run(e, b)
        if "error" in res:
            r.add(f"README command --epochs {e} --batch-size {b}: failed after {res['wall']:.0f} s: {res['error']}")
        else:
            r.add(f"README command --epochs {e} --batch-size {b}, fresh home: "
                  f"{res['wall']:.0f} s wall ({res['cpu']:.0f} CPU seconds over all its processes; "
                  f"load average {res['load']:.1f} at the end), UF1 {res['uf1']:.3f}, "
                  f"UAR {res['uar']:.3f}.")
        r.add()
    r.add(f"Benchmark wall time {time.perf_counter() - began:.0f} s; load average at end "
          f"{os.getloadavg()[0]:.1f}.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(r.lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
