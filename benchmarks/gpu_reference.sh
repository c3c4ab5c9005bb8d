#!/usr/bin/env bash
# The reference rows only a GPU can compute: HTNet's paper recipe (htnet and htnet-refcrop, 800
# epochs at batch 256, 68 folds) on the public composite, all folds stacked (fold-parallel), with
# best-on-test concluded from the same models, then every finished run exported as a result file.
#
# On a machine with a GPU and a clone of HTNet's repository:
#   bash benchmarks/gpu_reference.sh ~/src/HTNet out/
# Through this workplace's device tool (the clone's two folders, 8 MB, carried in an ignored
# folder of the checkout: mkdir -p .htnet/datasets && cp -r <clone>/datasets/STSNet_whole_norm_u_v_os
# <clone>/datasets/combined_datasets_whole .htnet/datasets/ ; echo /.htnet/ >> .git/info/exclude):
#   run(command="bash benchmarks/gpu_reference.sh .htnet $OUT", carry=[".htnet"], timeout_s=600)
# Copy what comes back into results/ and commit it.
set -euo pipefail
clone=${1:?usage: gpu_reference.sh CLONE OUT [SEEDS_PASSES]}
out=${2:?usage: gpu_reference.sh CLONE OUT}
passes=${3:-1}
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-deps --no-build-isolation -e . >/dev/null 2>&1 \
  || python3 -m pip install -q --no-deps -e .
store="$out/gpu-reference.sqlite"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 benchmarks/reference_runs.py --data-root "$clone" --store "$store" --gpu \
  --only htnet,htnet-refcrop --passes "$passes" -- --device cuda --executor fold-parallel
python3 benchmarks/reference_runs.py --data-root "$clone" --store "$store" --gpu \
  --only htnet,htnet-refcrop --export "$out"
