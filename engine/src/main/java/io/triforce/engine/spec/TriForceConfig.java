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
 */
public record TriForceConfig(int gamma1, int gamma2, int budget, int chunk, int sinks, int window,
                             RebuildPolicy rebuild) {

    public static final TriForceConfig DEFAULTS =
            new TriForceConfig(1, 3, 512, 8, 16, 256, new RebuildPolicy.AtPrefill());

    public TriForceConfig {
        check(gamma1 >= 1, "gamma1 must be >= 1, got " + gamma1);
        check(gamma2 >= 1, "gamma2 must be >= 1, got " + gamma2);
        check(chunk >= 1, "chunk must be >= 1, got " + chunk);
        check(budget >= chunk, "budget (" + budget + ") must be at least one chunk (" + chunk + ")");
        check(sinks >= 0, "sinks must be >= 0, got " + sinks);
        check(window >= 1, "window must be >= 1, got " + window);
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
