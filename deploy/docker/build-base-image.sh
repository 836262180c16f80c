#!/usr/bin/env bash
# Builds the base image triforce/java-base:25 without any registry: Debian bookworm (minbase,
# from debootstrap's default mirror) plus a jlink'd Java 25 runtime in /opt/java and a
# non-root user 10001. Needs root, debootstrap and a Docker engine (DOCKER_HOST).
# Skips the build when the image exists, unless REBUILD=1.
set -euo pipefail
IMAGE=triforce/java-base:25
JDK="${JDK:-/usr/lib/jvm/temurin-25-jdk-amd64}"
MODULES=java.base,java.desktop,java.instrument,java.logging,java.management,java.management.rmi,\
java.naming,java.net.http,java.prefs,java.rmi,java.scripting,java.security.jgss,\
java.security.sasl,java.sql,java.transaction.xa,java.xml,java.xml.crypto,jdk.charsets,\
jdk.crypto.cryptoki,jdk.crypto.ec,jdk.incubator.vector,jdk.jcmd,jdk.jfr,jdk.management,\
jdk.management.jfr,jdk.naming.dns,jdk.net,jdk.nio.mapmode,jdk.security.auth,jdk.security.jgss,\
jdk.unsupported,jdk.zipfs

if [ "${REBUILD:-0}" != 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE exists (REBUILD=1 rebuilds it)"
  exit 0
fi
ROOTFS="$(mktemp -d)"
trap 'rm -rf "$ROOTFS"' EXIT
debootstrap --variant=minbase bookworm "$ROOTFS" >/dev/null
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
"$JDK/bin/jlink" --add-modules "$MODULES" --strip-debug --no-man-pages --no-header-files \
  --output "$ROOTFS/opt/java"
echo 'triforce:x:10001:10001::/home/triforce:/usr/sbin/nologin' >>"$ROOTFS/etc/passwd"
echo 'triforce:x:10001:' >>"$ROOTFS/etc/group"
install -d -o 10001 -g 10001 "$ROOTFS/home/triforce"
tar -C "$ROOTFS" -c . | docker import \
  -c 'ENV JAVA_HOME=/opt/java' \
  -c 'ENV PATH=/opt/java/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'ENV LANG=C.UTF-8' \
  - "$IMAGE" >/dev/null
echo "built $IMAGE"
