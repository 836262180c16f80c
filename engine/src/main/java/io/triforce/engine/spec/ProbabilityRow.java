package io.triforce.engine.spec;

import java.util.Arrays;

/**
 * One distribution over the vocabulary as a level hands it on (a proposal's q, a verdict's p): on
 * the host, or on the device that computed it, where a verifier on the same device reads it
 * without a trip through the host.
 */
public interface ProbabilityRow {

    /** The probabilities [vocab] on the host (a row held on a device is copied down). */
    float[] values();

    static ProbabilityRow of(float[] values) {
        return new OnHost(values);
    }

    /** Rows on the host; null (greedy) stays null. */
    static ProbabilityRow[] of(float[][] rows) {
        return rows == null ? null : Arrays.stream(rows).map(ProbabilityRow::of).toArray(ProbabilityRow[]::new);
    }

    /** A row on the host. */
    record OnHost(float[] values) implements ProbabilityRow {
    }
}
