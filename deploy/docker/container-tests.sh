#!/usr/bin/env bash
# The Testcontainers suite from a clean machine: builds and installs the project (no tests),
# then, against a private dockerd (with-dockerd.sh), builds the images and runs deploy-tests'
# *IT classes (mvn -Pcontainers verify). Needs root, kubectl and the models in /work/shared/models.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
cd "$ROOT"
mvn -B -q -DskipTests install
deploy/docker/with-dockerd.sh bash -c \
  'deploy/docker/build-images.sh && mvn -B -Pcontainers -pl deploy-tests verify'
