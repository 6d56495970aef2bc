#!/usr/bin/env bash
# GPU readiness check (benchmarks/gpu_check.py) on a CUDA machine: telemetry off, the venv's python, from the
# repository root; writes runs/benchmarks/GPU_CHECK.md unless --out is given. Other arguments pass through:
#   benchmarks/gpu_check.sh                 # < 8 min on an H100
#   benchmarks/gpu_check.sh --smoke         # tiny sizes: the code paths only
#   PY=/path/to/python benchmarks/gpu_check.sh --out GPU_CHECK.md
set -euo pipefail
cd "$(dirname "$0")/.."
export FLWR_TELEMETRY_ENABLED=0
PY="${PY:-.venv/bin/python}"
if [ ! -x "$PY" ]; then
  echo "gpu_check.sh: no python at $PY; run 'make install' first (or set PY=/path/to/python)" >&2
  exit 2
fi
exec "$PY" -m benchmarks.gpu_check --out runs/benchmarks/GPU_CHECK.md "$@"
