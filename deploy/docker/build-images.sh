#!/usr/bin/env bash
# Builds every image, tagged triforce/<name>:$TAG: the base (build-base-image.sh), one per
# service from its Quarkus fast-jar (package the services first: mvn -DskipTests package) and
# the Kafka broker from the Maven jars. Needs a Docker engine (DOCKER_HOST): with-dockerd.sh.
set -euo pipefail
TAG=0.1.0
DOCKER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$DOCKER_DIR/../.." && pwd)"

"$DOCKER_DIR/build-base-image.sh"
for service in gateway draft-service kv-retrieval-service verify-service; do
  app="$ROOT/$service/target/quarkus-app"
  if [ ! -f "$app/quarkus-run.jar" ]; then
    echo "no $app/quarkus-run.jar: run 'mvn -DskipTests package' first" >&2
    exit 1
  fi
  docker build -q -t "triforce/$service:$TAG" -f "$DOCKER_DIR/$service/Dockerfile" "$app"
done
mvn -q -B -f "$DOCKER_DIR/kafka/pom.xml" dependency:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory=target/libs
docker build -q -t "triforce/kafka:$TAG" "$DOCKER_DIR/kafka"
