package io.triforce.protocol;

import java.time.Instant;

/** Wall-clock microseconds, the unit of every message's send timestamp (transit = receive - send). */
public final class Clock {

    private Clock() {
    }

    public static long micros() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000L + now.getNano() / 1_000;
    }
}
