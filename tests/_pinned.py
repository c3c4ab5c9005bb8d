"""The environment under which float results are the same on every x86-64 CPU with AVX2.

Used by tests/test_preserved.py, which compares predictions with ones stored on another machine,
and by tests/data/v1/make_preserved_predictions.py, which stored them. See
tests/_pinned_math/sitecustomize.py for why each setting is there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PINNED_MATH_DIR = Path(__file__).parent / "_pinned_math"
PINNED_CAPABILITY = "AVX2"  # what torch.backends.cpu.get_cpu_capability() reports when pinned


def pinned_environ(base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """`base` plus the pins: one thread, ATen and MKL on their AVX2 paths, oneDNN and NNPACK off."""
    env = dict(base)
    env.update(
        MER_BENCH_PINNED_MATH="1",
        ATEN_CPU_CAPABILITY="avx2",
        MKL_CBWR="AVX2,STRICT",
        MKL_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
    )
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PINNED_MATH_DIR), base.get("PYTHONPATH")) if p
    )
    return env


def pinned_state() -> dict[str, str]:
    """What this process's torch reports, for a check that the pins took effect."""
    import torch

    return {
        "capability": torch.backends.cpu.get_cpu_capability(),
        "mkldnn": str(torch.backends.mkldnn.enabled),
        "nnpack": str(torch._C._get_nnpack_enabled()),
        "threads": str(torch.get_num_threads()),
    }
