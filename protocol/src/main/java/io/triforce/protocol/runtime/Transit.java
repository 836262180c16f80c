package io.triforce.protocol.runtime;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.triforce.protocol.Clock;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Time a message spent between services (receive time - the sender's timestamp), per topic:
 * the Micrometer timer {@code triforce.message.transit} with median and p99.
 */
public final class Transit {

    private final MeterRegistry registry;
    private final Map<String, Timer> timers = new ConcurrentHashMap<>();

    public Transit(MeterRegistry registry) {
        this.registry = registry;
    }

    public void received(String topic, long sentAtMicros) {
        timers.computeIfAbsent(topic, t -> Timer.builder("triforce.message.transit").tag("topic", t)
                        .publishPercentiles(0.5, 0.99).register(registry))
                .record(Math.max(0, Clock.micros() - sentAtMicros), TimeUnit.MICROSECONDS);
    }
}
