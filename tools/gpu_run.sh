#!/usr/bin/env bash
# Everything issue 5 (item 7) asks of a GPU machine, in one command:
#
#   tools/gpu_run.sh [DEVICE] [OUTDIR]        (invoke gpu)
#
# 1. `symbench backends` (the GPU fingerprint) and `symbench check --device DEVICE`;
# 2. `symbench accuracy --device DEVICE`: the GPU math library per function family, as
#    entries for symbench/math_accuracy.toml;
# 3. two `symbench run`s into OUTDIR/runs: the GPU backends and the multithreaded CPU
#    backends (from the registry: cupy, jax, numexpr, numba-parallel ...) at 10^6 and 10^8
#    elements; then the single-threaded ones at 10^6 only (minutes per kernel at 10^8);
# 4. tools/device_findings.py over those runs: equivalence per kernel, x + y at 10^8 float32
#    as a fraction of the measured copy bandwidth, best GPU against best CPU backend.
#
# OUTDIR defaults to results/<device name>, a tracked artifact: commit it. On a machine lent
# by the minute, run the steps as separate commands: each is a few minutes.
set -euo pipefail
dev=${1:-gpu:0}
name=$(python -c "
import re, sys
from symbench.devices import device_summary, fingerprint
print(re.sub('[^A-Za-z0-9]+', '-', device_summary(fingerprint(), sys.argv[1])).strip('-').lower())
" "$dev")
out=${2:-results/$name}
store="$out/runs"
kernels=add,sigmoid,gelu,rbf,black_scholes
# From the registry: backends that use the device or many threads, and the serial CPU ones.
read -r parallel serial < <(python -c "
from symbench.backends import backend_ids, get_backend
wide = {i: get_backend(i).threaded or get_backend(i).device_kinds != ('cpu',) for i in backend_ids()}
print(','.join(i for i in wide if wide[i]), ','.join(i for i in wide if not wide[i]))")
mkdir -p "$out"
export PYTHONUNBUFFERED=1
# (symbench already makes JAX allocate GPU memory on demand, so CuPy in the same process has room)
symbench backends | tee "$out/backends.txt"
# check exits 1 on a failing pair: keep going, the findings show it.
symbench check --device "$dev" --no-progress --json > "$out/check.json" || true
symbench accuracy --device "$dev" --no-progress --out "$out/accuracy.json" --toml \
    > "$out/math_accuracy.toml" || true
symbench run --store "$store" --kernel "$kernels" --sizes 1000000,100000000 --repeats 5 \
    --backend "$parallel" --no-progress || true
symbench run --store "$store" --kernel "$kernels" --sizes 1000000 --repeats 5 \
    --backend "$serial" --device cpu --no-progress || true
python tools/device_findings.py --store "$store" --all | tee "$out/findings.txt"
python tools/device_findings.py --store "$store" --all --json > "$out/findings.json"
