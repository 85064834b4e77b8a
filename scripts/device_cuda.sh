#!/usr/bin/env bash
# The CUDA figures for profit_kernel, in one run on a machine with an NVIDIA GPU (the session's
# `device` tool, when one is lent): the GPU's name, the CUDA tests, then the benchmark table.
#   usage: scripts/device_cuda.sh [OUT_DIR=${OUT:-pairbench-out/cuda}]
# Needs a torch built with CUDA in the python on PATH; says so in one line and exits 2 without it.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-pairbench-out/cuda}}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.csv"
python - <<'PY' || exit 2
import sys, torch
if not torch.cuda.is_available():
    sys.exit(f"torch {torch.__version__} sees no CUDA device (a CPU build?): install a CUDA build of torch 2.13.0")
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}")
PY
python -m pytest -q -p no:cacheprovider tests/test_profit_kernel.py 2>&1 | tee "$out/tests.txt"
python benchmarks/cuda_profit_kernel.py --sizes 1 16 256 4096 --samples 21 2>&1 | tee "$out/table.txt"
