#!/usr/bin/env bash
# Compares builds of the kernels in one device call: the benchmark runs with the committed kernels
# ("base") and with each fatbin given, one after the other, for several rounds, so every build
# meets the same machine (machines of one kind differ by up to 6%; repeat runs on one by 0.3%).
# Build a variant first, e.g.
#   nvcc -O3 -std=c++17 -fatbin -gencode=arch=compute_90,code=sm_90 -gencode=arch=compute_90,code=compute_90 \
#     -o .device/fat/NAME.fatbin engine/src/main/cuda/triforce.cu
# then carry .device and the classes as run-on-device.sh says, and run there:
#   scripts/gpu/ab.sh [-r ROUNDS] .device/fat/A.fatbin ... -- [GpuBench options]
# Prints each run's step rows under "=== NAME (round R)". A variant's bits are the GPU tests'
# business: run-on-device.sh test with TRIFORCE_JAVA_OPTS=-Dtriforce.cuda.fatbin=FILE.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=2
if [ "${1:-}" = "-r" ]; then
  rounds=$2
  shift 2
fi
fatbins=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  [ -f "$1" ] || { echo "no such fatbin: $1" >&2; exit 2; }
  fatbins+=("$1")
  shift
done
[ "${1:-}" = "--" ] && shift
[ ${#fatbins[@]} -gt 0 ] || { echo "usage: $0 [-r ROUNDS] FATBIN... -- [GpuBench options]" >&2; exit 2; }
run() {  # name, extra JVM options, bench options...
  local name=$1 opts=$2
  shift 2
  echo "=== $name (round $round)"
  TRIFORCE_JAVA_OPTS="$opts" bash scripts/gpu/run-on-device.sh bench "$@" 2>&1 \
    | grep -E "^[a-z0-9-]+ +[0-9]+ (decode|verify|retrieval)|GEMVs|Exception|rror" || true
}
for round in $(seq 1 "$rounds"); do
  run base "" "$@"
  for f in "${fatbins[@]}"; do
    run "$(basename "$f" .fatbin)" "-Dtriforce.cuda.fatbin=$f" "$@"
  done
done
