#!/usr/bin/env bash
# Scorer throughput on an NVIDIA GPU: articles/s at several batch sizes, bf16 and fp32.
#
#   benchmarks/gpu.sh                          # the shipped model, 50,000 posts, batches 256 1024 4096
#   benchmarks/gpu.sh --model DIR --n 100000 --batch-sizes "512 2048 8192"
#   benchmarks/gpu.sh --cpu-smoke [--model DIR]   # no GPU needed: checks the script end to end
#
# Python: $PYTHON if set, else the repo's .venv, else python3. It needs torch (the CUDA
# build of torch==2.13.0 on a GPU host), transformers, peft, safetensors and numpy; the
# repo itself is put on PYTHONPATH, so `pip install -e .` is not required.
# Results: a Markdown table on stdout and JSON in ${OUT:-.}/gpu_throughput.json.
set -euo pipefail

cd "$(dirname "$0")/.."
SMOKE=0
MODEL_ARGS=()
N=50000
BATCHES="256 1024 4096"
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu-smoke) SMOKE=1 ;;
    --model) MODEL_ARGS=(--model "$2"); shift ;;
    --n) N="$2"; shift ;;
    --batch-sizes) BATCHES="$2"; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "gpu.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"
elif [ -x .venv/bin/python ]; then PY=.venv/bin/python
else PY=python3
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
OUT_JSON="${OUT:-.}/gpu_throughput.json"
if [ ${#MODEL_ARGS[@]} -eq 0 ] && [ ! -f models/finsent-minilm/model_card.json ]; then
  echo "gpu.sh: no shipped model at models/finsent-minilm; pass --model DIR" >&2
  exit 1
fi

echo "host: $(uname -n), $(nproc) CPUs; python: $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"
if [ "$SMOKE" = 1 ]; then
  echo "CPU smoke run: checks the script, not a GPU figure"
  # shellcheck disable=SC2086
  exec nice -n 5 "$PY" benchmarks/gpu_throughput.py --device cpu --n "${SMOKE_N:-256}" \
    --batch-sizes 64 256 --precisions fp32 --repeats 1 --json "$OUT_JSON" "${MODEL_ARGS[@]}"
fi

if ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "gpu.sh: nvidia-smi not found: this is not an NVIDIA machine (try --cpu-smoke)" >&2
  exit 1
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
if ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "gpu.sh: torch in $PY cannot use CUDA ($("$PY" -c 'import torch; print(torch.__version__)' 2>&1 | tail -1));" \
       "install the CUDA build of torch==2.13.0 there, or set PYTHON=..." >&2
  exit 1
fi
# shellcheck disable=SC2086
"$PY" benchmarks/gpu_throughput.py --device cuda --n "$N" --batch-sizes $BATCHES \
  --precisions bf16 fp32 --json "$OUT_JSON" "${MODEL_ARGS[@]}"
echo "JSON: $OUT_JSON"
