package io.triforce.engine.spec;

/**
 * Knobs of the hierarchy.
 *
 * @param gamma1  tokens the tiny draft proposes per level-2 round
 * @param gamma2  tokens level 2 proposes per target verification
 * @param budget  retrieval cache budget in tokens (selected chunks)
 * @param chunk   retrieval chunk size in tokens
 * @param sinks   StreamingLLM sink tokens of the draft's cache
 * @param window  StreamingLLM recent window of the draft's cache
 * @param rebuild when the retrieval cache re-selects
 * @param adaptive whether gamma1 and gamma2 are where the levels start, each then proposing more
 *                 after a fully accepted proposal and fewer after a rejection ({@link ProposalLength})
 */
public record TriForceConfig(int gamma1, int gamma2, int budget, int chunk, int sinks, int window,
                             RebuildPolicy rebuild, boolean adaptive) {

    /**
     * Most tokens the draft proposes a round when adaptive (or gamma1, if more). 8 rather than 4: on the
     * trained pair widened to a 7B model's size on an H100, both starting at 1 / 3, greedy TriForce 2.76x
     * AR against 2.45x, sampled 1.52x against 1.51x (README, "Results").
     */
    static final int ADAPTIVE_MAX_GAMMA1 = 8;
    /** Most tokens level 2 proposes a target pass when adaptive (or gamma2, if more). */
    static final int ADAPTIVE_MAX_GAMMA2 = 16;

    /**
     * Adaptive lengths starting at their caps, 8 / 16 (a rejection halves them at once): on a 7B-sized
     * target on the GPU they beat every fixed setting measured and the start at 1 / 3, sampled by 13-19%;
     * on the CPU they gain over fixed 1 / 3 too (README, "Results").
     */
    public static final TriForceConfig DEFAULTS = new TriForceConfig(ADAPTIVE_MAX_GAMMA1, ADAPTIVE_MAX_GAMMA2, 512, 8,
            16, 256, new RebuildPolicy.AtPrefill(), true);

    /** Fixed proposal lengths. */
    public TriForceConfig(int gamma1, int gamma2, int budget, int chunk, int sinks, int window, RebuildPolicy rebuild) {
        this(gamma1, gamma2, budget, chunk, sinks, window, rebuild, false);
    }

    public TriForceConfig {
        check(gamma1 >= 1, "gamma1 must be >= 1, got " + gamma1);
        check(gamma2 >= 1, "gamma2 must be >= 1, got " + gamma2);
        check(chunk >= 1, "chunk must be >= 1, got " + chunk);
        check(budget >= chunk, "budget (" + budget + ") must be at least one chunk (" + chunk + ")");
        check(sinks >= 0, "sinks must be >= 0, got " + sinks);
        check(window >= 1, "window must be >= 1, got " + window);
    }

    /** The longest proposal the draft makes a round. */
    public int maxGamma1() {
        return adaptive ? Math.max(gamma1, ADAPTIVE_MAX_GAMMA1) : gamma1;
    }

    /** The longest proposal level 2 makes a target pass. */
    public int maxGamma2() {
        return adaptive ? Math.max(gamma2, ADAPTIVE_MAX_GAMMA2) : gamma2;
    }

    public static RebuildPolicy rebuildPolicy(String text) {
        return RebuildPolicy.parse(text);
    }

    private static void check(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }
}
