package io.triforce.engine.spec;

/**
 * Per-request statistics of the hierarchy. {@code level1} counts the tiny draft's proposals
 * as judged by level 2 (retrieval draft); {@code level2} counts level 2's proposals as judged
 * by the target (level 3). {@code rebuilds} counts retrieval-cache selections; {@code draftNanos} is the tiny
 * draft's time proposing.
 */
public record SpeculationStats(LevelStats level1, LevelStats level2, int rebuilds, long draftNanos) {

    public static SpeculationStats none() {
        return new SpeculationStats(new LevelStats(), new LevelStats(), 0, 0);
    }

    /** Forward passes of the target over its full cache (the expensive ones). */
    public long targetForwardPasses() {
        return level2.forwardPasses();
    }
}
