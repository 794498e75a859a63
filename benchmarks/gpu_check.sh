#!/usr/bin/env bash
# The CUDA checks in one run, for a machine with one NVIDIA GPU and a CUDA build of torch:
#   1. the tests that need CUDA, and a CUDA smoke run of train (AMP) -> ppl -> rescore on the real
#      N-best fixtures;
#   2. training tokens/s with AMP and rescoring words/s of the LightRNN (one step per word) and both
#      LSTMs at |V| = 10K, 100K, 1M (benchmarks/speed/lm_compare.py --device cuda);
#   3. data-parallel training over NCCL (torchrun, one process per GPU).
# Results go to $OUT (default docs/bench/): gpu_check.log, lm_compare_gpu.jsonl, ddp_gpu.jsonl.
#
# Packages the GPU machine lacks travel as cp312 wheels in .whl/ (git-ignored):
#   echo /.whl/ >> .git/info/exclude; bash benchmarks/gpu_check.sh --fetch-wheels
# then on the GPU machine, from the repository root: bash benchmarks/gpu_check.sh
set -uo pipefail
OUT=${OUT:-docs/bench}
PY=${PY:-python3}
WHEELS="kaldialign==0.12.0 kaldifst==1.8.3 ortools==9.15.6755 num2words==0.5.14 immutabledict==4.3.1"

if [ "${1:-}" = "--fetch-wheels" ]; then
  mkdir -p .whl
  for w in $WHEELS; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 -d .whl "$w" || exit 1
  done
  exit 0
fi

mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_check.log") 2>&1
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD
step() { echo "== $(date '+%F %T') $*"; }

step "machine"
nvidia-smi -L; $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"

step "1. CUDA tests and a CUDA smoke run"
timeout 180 $PY -m pytest -q -p no:cacheprovider tests/test_model.py tests/test_word_bias.py tests/test_lattice_batch.py \
  tests/test_prefix.py tests/test_interface.py -x
work=$(mktemp -d)
cut -f4 tests/data/synthetic_dev_trigram.nbest | head -3000 > "$work/train.txt"
cut -d' ' -f2- tests/data/synthetic_dev_trigram.ref > "$work/valid.txt"
timeout 120 $PY -m lightrnn_asr.cli train --train-text "$work/train.txt" --valid-text "$work/valid.txt" \
  --out-dir "$work/lm" --device cuda --embed-dim 64 --hidden-dim 64 --num-layers 1 --rounds 3 --time-budget 20 \
  && $PY -m lightrnn_asr.cli ppl --model "$work/lm/best.pt" --text "$work/valid.txt" --device cuda \
  && timeout 120 $PY -m lightrnn_asr.cli rescore tests/data/synthetic_dev_trigram.nbest --model "$work/lm/best.pt" \
       --device cuda --dev tests/data/synthetic_dev_trigram.nbest tests/data/synthetic_dev_trigram.ref \
       --out "$work/1best.txt" \
  && $PY -m lightrnn_asr.cli wer --ref tests/data/synthetic_dev_trigram.ref --hyp "$work/1best.txt"

step "2. training and rescoring throughput at |V| = 10K, 100K, 1M"
(cd benchmarks/speed && timeout 420 $PY lm_compare.py --device cuda --systems lightrnn-wordsum lightrnn-wordsum-col lightrnn-wordsum-col-sl lightrnn-wordsum-col-sl-osl adaptive lstm \
  --vocab 10000 100000 1000000 --train-seconds 8 --score-seconds 8 --out "$(cd ../.. && realpath "$OUT")/lm_compare_gpu.jsonl")

step "3. data-parallel training over NCCL"
n=$($PY -c "import torch; print(torch.cuda.device_count())")
timeout 120 $PY -m torch.distributed.run --standalone --nproc_per_node "$n" -m lightrnn_asr.cli train \
  --train-text "$work/train.txt" --valid-text "$work/valid.txt" --out-dir "$work/ddp" --device cuda \
  --embed-dim 64 --hidden-dim 64 --num-layers 1 --rounds 2 --no-realloc \
  && $PY -c "
import json, sys, datetime, torch
h = json.load(open('$work/ddp/history.json'))
print(json.dumps({'date': datetime.date.today().isoformat(), 'gpu': torch.cuda.get_device_name(), 'processes': $n,
                  'backend': 'nccl', 'torch': torch.__version__, 'rounds': h}))" >> "$OUT/ddp_gpu.jsonl"
step "done"
