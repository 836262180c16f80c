#!/usr/bin/env bash
# Prepares what a device call carries (see run-on-device.sh): a stripped jlink runtime packed
# with xz, the engine's runtime jars (the tokenizer's natives for linux-x86_64 only), compiled
# main and test classes of the engine and the protocol's level sessions. Carry: .device
# engine/target/classes engine/target/test-classes protocol/target/classes
# protocol/target/test-classes (about 36 MiB).
set -euo pipefail
cd "$(dirname "$0")/../.."
jdk=${JDK:-/usr/lib/jvm/temurin-25-jdk-amd64}
mkdir -p .device
if [ ! -f .device/jre.tar.xz ]; then
  tmp=$(mktemp -d)
  "$jdk/bin/jlink" --add-modules java.base,jdk.incubator.vector,java.logging,jdk.unsupported,java.management \
    --strip-debug --no-header-files --no-man-pages --compress zip-6 --output "$tmp/jre"
  strip --strip-unneeded "$tmp/jre/lib/server/libjvm.so"
  tar -C "$tmp" -cJf .device/jre.tar.xz jre
  rm -rf "$tmp"
fi
rm -rf .device/lib
JAVA_HOME=$jdk mvn -q -B -pl engine -am install -DskipTests   # -am: the parent POM too, which a fresh machine lacks
JAVA_HOME=$jdk mvn -q -B -pl protocol test-compile
JAVA_HOME=$jdk mvn -q -B -pl engine dependency:copy-dependencies -DincludeScope=runtime \
  -DoutputDirectory="$PWD/.device/lib"
JAVA_HOME=$jdk mvn -q -B -pl engine dependency:copy \
  -Dartifact=org.junit.platform:junit-platform-console-standalone:6.0.3 -DoutputDirectory="$PWD/.device/lib"
# JCuda's natives jar also holds NVRTC and PTX-compiler bindings (12.x, unusable on CUDA 13): drop them.
zip -q -d .device/lib/jcuda-natives-*-linux-x86_64.jar 'lib/libJNvPTXCompiler*' 'lib/libJNvrtc*' 2>/dev/null || true
# The tokenizer's jar holds its natives for five platforms; the device machine is linux-x86_64.
zip -q -d .device/lib/tokenizers-*.jar 'native/lib/linux-aarch64/*' 'native/lib/osx-*' 'native/lib/win-*' 2>/dev/null || true
du -sh .device engine/target/classes engine/target/test-classes protocol/target/classes protocol/target/test-classes
