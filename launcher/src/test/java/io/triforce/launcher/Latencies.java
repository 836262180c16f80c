package io.triforce.launcher;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** Collected durations in milliseconds, with nearest-rank percentiles. */
final class Latencies {

    private final List<Double> millis = new ArrayList<>();

    void add(long nanos) {
        millis.add(nanos / 1e6);
    }

    int count() {
        return millis.size();
    }

    double percentile(double q) {
        if (millis.isEmpty()) {
            return Double.NaN;
        }
        List<Double> sorted = new ArrayList<>(millis);
        Collections.sort(sorted);
        return sorted.get(Math.max(0, (int) Math.ceil(q * sorted.size()) - 1));
    }

    @Override
    public String toString() {
        return String.format("p50 %.1f ms, p99 %.1f ms (n=%d)", percentile(0.5), percentile(0.99), count());
    }
}
