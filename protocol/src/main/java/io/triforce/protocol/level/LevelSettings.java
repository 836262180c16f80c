package io.triforce.protocol.level;

/**
 * Knobs of the distributed hierarchy (the in-process {@code TriForceConfig} plus how far the
 * draft may run ahead of the committed log).
 *
 * @param gamma1    tokens per level-1 proposal (one level-2 verification each)
 * @param gamma2    tokens level 2 collects before proposing them to the target
 * @param budget    retrieval cache budget in tokens
 * @param chunk     retrieval chunk size in tokens
 * @param sinks     StreamingLLM sink tokens of the draft's cache
 * @param window    StreamingLLM recent window of the draft's cache
 * @param lookahead how many tokens past the committed log the draft may speculate: every
 *                  correction throws away what the draft made past its point, on cores the
 *                  other levels need, so just past one level-2 proposal is best (6 at gamma
 *                  1/3: 1.8x the tokens/s of 32 through the services at 8K)
 * @param level2Ahead how many tokens level 2 may decide itself (one forward each, from its own
 *                  distribution) past the end of what level 1 has proposed, while it has nothing
 *                  else to do — e.g. while its correction travels to level 1; 0 turns it off
 */
public record LevelSettings(int gamma1, int gamma2, int budget, int chunk, int sinks, int window, int lookahead,
                            int level2Ahead) {

    /** Most tokens in one proposal (a verify block must fit one forward pass of every backend). */
    public static final int MAX_GAMMA = 32;

    /**
     * Fixed gamma1 1 and gamma2 3 (where the in-process decoder's adaptive lengths start; the
     * services' pipelined protocol keeps them fixed), a lookahead just past one level-2 proposal,
     * and level 2 deciding up to 2 tokens itself while level 1's answer travels: the best of the
     * settings measured at 8K through the services (README, "Through the services").
     */
    public static final LevelSettings DEFAULTS = new LevelSettings(1, 3, 512, 8, 16, 256, 6, 2);

    /** Without level-2 self-drafting. */
    public LevelSettings(int gamma1, int gamma2, int budget, int chunk, int sinks, int window, int lookahead) {
        this(gamma1, gamma2, budget, chunk, sinks, window, lookahead, 0);
    }

    public LevelSettings {
        if (level2Ahead < 0) {
            throw new IllegalArgumentException("level2-ahead must be >= 0, got " + level2Ahead);
        }
        if (gamma1 < 1 || gamma2 < 1 || gamma1 > MAX_GAMMA || gamma2 > MAX_GAMMA || chunk < 1 || budget < chunk || sinks < 0 || window < 1) {
            throw new IllegalArgumentException("bad TriForce settings: gamma1/gamma2 " + gamma1 + "/" + gamma2
                    + " (each 1.." + MAX_GAMMA + ") budget " + budget + " chunk " + chunk + " sinks " + sinks
                    + " window " + window);
        }
        if (lookahead < gamma1 + gamma2) {
            throw new IllegalArgumentException("lookahead (" + lookahead + ") must be >= gamma1 + gamma2 ("
                    + (gamma1 + gamma2) + "), or level 2 could wait forever for a full proposal");
        }
    }

    /**
     * Reads {@code triforce.gamma1}, {@code gamma2}, {@code budget}, {@code chunk}, {@code sinks},
     * {@code window}, {@code lookahead} and {@code level2-ahead}; absent keys take {@link #DEFAULTS}.
     */
    public static LevelSettings from(java.util.function.Function<String, java.util.Optional<Integer>> config) {
        java.util.function.BiFunction<String, Integer, Integer> get = (k, d) -> config.apply("triforce." + k).orElse(d);
        LevelSettings d = DEFAULTS;
        return new LevelSettings(get.apply("gamma1", d.gamma1), get.apply("gamma2", d.gamma2),
                get.apply("budget", d.budget), get.apply("chunk", d.chunk), get.apply("sinks", d.sinks),
                get.apply("window", d.window), get.apply("lookahead", d.lookahead),
                get.apply("level2-ahead", d.level2Ahead));
    }

    /** How far back a level's cache may have to roll: everything speculated past the committed log. */
    int rollbackSlack() {
        return lookahead + 2 * (gamma1 + gamma2) + 4;
    }
}
