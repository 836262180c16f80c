#!/bin/sh
# Single-node KRaft broker + controller. KAFKA_ADVERTISED_HOST: the name clients reach it by.
set -e
CONFIG=/tmp/server.properties
cat >"$CONFIG" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
listeners=PLAINTEXT://0.0.0.0:9092,CONTROLLER://localhost:9093
advertised.listeners=PLAINTEXT://${KAFKA_ADVERTISED_HOST:-localhost}:9092
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=/tmp/kraft-logs
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPERTIES
CP='/opt/kafka/libs/*'
LOGGING=-Dlog4j2.configurationFile=/opt/kafka/log4j2.properties
java -cp "$CP" "$LOGGING" kafka.tools.StorageTool format -t TriForceKRaftCluster0w -c "$CONFIG" >/dev/null
exec java -Xmx512m -cp "$CP" "$LOGGING" kafka.Kafka "$CONFIG"
