#!/usr/bin/env bash
# The CUDA checks, in one go, on a GPU machine: the CUDA tests, the networks' speeds (float32 against bf16 autocast)
# and `handpose train` end to end with and without autocast. Run from the repository root with a CUDA build of torch:
#
#   OUT=runs/cuda PYTHON=python3 bash benchmarks/cuda_check.sh
#
# handpose runs from the source tree (PYTHONPATH=src), so a machine with torch and the package's dependencies needs no
# install. Logs and JSON go to $OUT; docs/benchmarks.md records the last run.
set -u
OUT=${OUT:-runs/cuda}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
$PY -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_device_name())" \
  | tee -a "$OUT/gpu.txt"
nproc | tee -a "$OUT/gpu.txt"

echo "== tests/test_cuda.py"
timeout 300 $PY -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$OUT/test_cuda.log"

echo "== benchmarks/cuda_speed.py"
timeout 200 $PY benchmarks/cuda_speed.py --steps 10 --json "$OUT/cuda_speed.json" 2>&1 | tee "$OUT/cuda_speed.log"

echo "== handpose train configs/msahp_synthetic.yaml, 300 steps, autocast on and off"
data=${TMPDIR:-/tmp}/handpose_cuda_synth
$PY -m handpose synth generate "$data" --count 3000 --val-count 200 --test-count 0 --splits train,val \
  --modality rgb --workers "$(nproc)" --quiet
for amp in true false; do
  rm -rf "${TMPDIR:-/tmp}/handpose_cuda_amp_$amp"
  timeout 150 $PY -m handpose train configs/msahp_synthetic.yaml --out "${TMPDIR:-/tmp}/handpose_cuda_amp_$amp" \
    --device cuda --set "data.root=$data" --set train.steps=300 --set "train.amp=$amp" --set train.val_every=300 \
    --set train.checkpoint_every=300 --set data.max_val_samples=200 --set "data.workers=$(( $(nproc) - 2 ))" \
    --set train.progress=false 2>&1 | tee "$OUT/train_amp_$amp.log"
done
