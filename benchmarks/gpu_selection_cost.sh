#!/usr/bin/env bash
# For the device machine, one call (under 8 minutes; results under $OUT): what `nested` costs
# against `fixed` under fold-parallel on one GPU. Inner folds are just more models to stack, so
# the ratio of the projected full-recipe times is the cost of the honest choice.
#   run: bash benchmarks/gpu_selection_cost.sh   (copy $OUT/*.txt to benchmarks/results/)
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install -q --no-deps --no-build-isolation -e . > /dev/null 2>&1
for model in htnet-small htnet; do
  for selection in fixed nested; do
    echo "== $model, $selection"
    timeout 110 python3 benchmarks/gpu_fold_parallel.py --model "$model" --epochs 3 \
      --seq-folds 1 --selection "$selection" --inner-folds 3 2>&1 | tail -9
  done
done | tee "$OUT/gpu_selection_cost.txt"
