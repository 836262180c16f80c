#!/usr/bin/env bash
# Runs the GPU tests or the GPU benchmark on the device machine, which has CUDA but no Java.
# Needs the paths that scripts/gpu/pack.sh prepares, carried with the call:
#   .device  engine/target/classes  engine/target/test-classes  protocol/target/classes  protocol/target/test-classes
# Usage: scripts/gpu/run-on-device.sh test [junit console options...]   (TRIFORCE_JAVA_OPTS: extra JVM options)
#        scripts/gpu/run-on-device.sh bench [GpuBench options...]
#        scripts/gpu/run-on-device.sh cli COMMAND [options...]   (the triforce CLI, e.g. bench --backend cuda)
#        scripts/gpu/run-on-device.sh main CLASS [args...]   (any class's main on the same class path, e.g.
#          io.triforce.engine.testing.WidenedCheckpoint: the trained target at a 7B model's size)
# TRIFORCE_ENGINE_CLASSES: another build's engine classes instead of engine/target/classes (ab.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
jre=${TRIFORCE_JRE:-/tmp/triforce-jre}
if [ ! -x "$jre/bin/java" ]; then
  mkdir -p "$jre" && tar -C "$jre" --strip-components=1 -xJf .device/jre.tar.xz
fi
cp="${TRIFORCE_ENGINE_CLASSES:-engine/target/classes}:engine/target/test-classes:protocol/target/classes:protocol/target/test-classes:$(ls .device/lib/*.jar | grep -v console-standalone | tr '\n' ':')"
java=("$jre/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss8m -Xmx48g ${TRIFORCE_JAVA_OPTS:-})
if [ -d .device-data ] && [ -z "${TRIFORCE_SHARED:-}" ]; then
  export TRIFORCE_SHARED=$PWD/.device-data   # the trained pair and eval set (scripts/gpu/stage-data.sh)
fi
mode=${1:-}
shift || true
case "$mode" in
  test)
    "${java[@]}" -jar .device/lib/junit-platform-console-standalone-*.jar execute --class-path "$cp" \
      --select-package io.triforce.engine.cuda --select-class io.triforce.protocol.level.LevelsOnGpuTest \
      --select-class io.triforce.engine.backend.BackendsTest --details=tree --disable-banner "$@" ;;
  bench)
    "${java[@]}" -cp "$cp" io.triforce.engine.cuda.GpuBench "$@" ;;
  cli)
    "${java[@]}" -cp "$cp" io.triforce.engine.cli.TriForceCli "$@" ;;
  main)
    "${java[@]}" -cp "$cp" "$@" ;;
  *)
    echo "usage: $0 test|bench|cli|main [options]" >&2; exit 2 ;;
esac
