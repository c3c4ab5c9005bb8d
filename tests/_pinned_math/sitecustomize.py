"""Pins torch's CPU arithmetic to one code path in processes started with MER_BENCH_PINNED_MATH=1.

Python imports `sitecustomize` at start-up from the first folder on its path that has one;
`tests/_pinned.py` puts this folder first on PYTHONPATH, so the pin also reaches the worker
processes a `local` run spawns. Float results depend on which kernels the CPU gets: ATen's
vectorised kernels, MKL and oneDNN each pick a code path by instruction set at run time (AVX2 vs
AVX-512 give results that differ in the last bits). The environment in `tests/_pinned.py` pins
ATen and MKL to their AVX2 paths; oneDNN and NNPACK have no such switch, so they are turned off
here and convolutions take ATen's own path (im2col and MKL's GEMM). Unset, this file does nothing.
"""

import os

if os.environ.get("MER_BENCH_PINNED_MATH") == "1":
    import torch

    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
    torch.backends.nnpack.set_flags(False)
