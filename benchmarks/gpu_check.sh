#!/usr/bin/env bash
# The device-machine checks, in one call (results under $OUT): metrics and HTNet tests on CUDA,
# fold-parallel vs sequential score equivalence on CUDA, and HTNet's paper recipe projection.
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
  python3 -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | tail -2
  python3 -m pytest -q -p no:cacheprovider tests/test_metrics.py tests/test_htnet.py 2>&1 | tail -4
} > "$OUT/env_and_tests.txt" 2>&1
cat "$OUT/env_and_tests.txt"
timeout 150 python3 benchmarks/gpu_equivalence.py --model htnet-small --epochs 10 > "$OUT/equivalence.txt" 2>&1
cat "$OUT/equivalence.txt" | tail -8
timeout 330 python3 benchmarks/gpu_fold_parallel.py --epochs 5 > "$OUT/fold_parallel.txt" 2>&1
tail -30 "$OUT/fold_parallel.txt"
