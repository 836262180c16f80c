#!/usr/bin/env bash
# Compares builds of the kernels in one device call: the benchmark runs with the working tree's
# build ("base": engine/target/classes) and with each variant given, one after the other, for
# several rounds, so every build meets the same machine (machines of one kind differ by up to 6%;
# repeat runs on one by 0.3%).
# A variant is a fatbin (another build of triforce.cu, loaded with the classes here), e.g.
#   nvcc -O3 -std=c++17 -fatbin -gencode=arch=compute_90,code=sm_90 -gencode=arch=compute_90,code=compute_90 \
#     -o .device/fat/NAME.fatbin engine/src/main/cuda/triforce.cu
# or a directory of engine classes (another commit's build, its fatbin inside: for changes on the
# Java side too), e.g. from `git worktree add /tmp/base HEAD~1` and `mvn -o -pl engine compile`
# there, copied to .device/NAME, or JVM options starting -D (a setting, with the classes here),
# e.g. -Dtriforce.cuda.pdl=false, or a fatbin or directory with options after a '+'
# (.device/base+-Dtriforce.cuda.ring=true). Carry .device and the classes as run-on-device.sh says, and run:
#   scripts/gpu/ab.sh [-r ROUNDS] VARIANT... -- [GpuBench options]
# Prints each run's step rows under "=== NAME (round R)". A variant's bits are the GPU tests'
# business: run-on-device.sh test with TRIFORCE_JAVA_OPTS=-Dtriforce.cuda.fatbin=FILE (or
# TRIFORCE_ENGINE_CLASSES=DIR).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=2
if [ "${1:-}" = "-r" ]; then
  rounds=$2
  shift 2
fi
variants=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  [[ "$1" == -D* ]] || [ -e "${1%%+-D*}" ] || { echo "not a fatbin, classes directory or -D option: $1" >&2; exit 2; }
  variants+=("$1")
  shift
done
[ "${1:-}" = "--" ] && shift
[ ${#variants[@]} -gt 0 ] || { echo "usage: $0 [-r ROUNDS] FATBIN|CLASSES_DIR|-DKEY=VALUE... -- [GpuBench options]" >&2; exit 2; }
run() {  # name, extra JVM options, engine classes, bench options...
  local name=$1 opts=$2 classes=$3
  shift 3
  echo "=== $name (round $round)"
  TRIFORCE_JAVA_OPTS="$opts" TRIFORCE_ENGINE_CLASSES="$classes" bash scripts/gpu/run-on-device.sh bench "$@" 2>&1 \
    | grep -E "^[a-z0-9-]+ +[0-9]+ (decode|verify|retrieval|prefill)|GEMVs|Exception|rror" || true
}
for round in $(seq 1 "$rounds"); do
  run base "" engine/target/classes "$@"
  for v in "${variants[@]}"; do
    build=${v%%+-D*}
    opts=${v:${#build}+1}
    if [[ "$v" == -D* ]]; then
      run "$v" "$v" engine/target/classes "$@"
    elif [ -d "$build" ]; then
      run "$(basename "$build")${opts:+ $opts}" "$opts" "$build" "$@"
    else
      run "$(basename "$build" .fatbin)${opts:+ $opts}" "-Dtriforce.cuda.fatbin=$build $opts" engine/target/classes "$@"
    fi
  done
done
