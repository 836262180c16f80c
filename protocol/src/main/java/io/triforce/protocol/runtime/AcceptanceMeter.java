package io.triforce.protocol.runtime;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.triforce.protocol.LevelCounters;

/**
 * How one level's proposals fare at the level that verifies them, as Prometheus counters tagged
 * with the proposing level: {@code triforce_tokens_proposed_total}, {@code
 * triforce_tokens_accepted_total} and {@code triforce_verify_rounds_total}. Acceptance over a
 * window is {@code rate(accepted) / rate(proposed)}.
 */
public final class AcceptanceMeter {

    private final Counter proposed;
    private final Counter accepted;
    private final Counter rounds;

    /** @param proposingLevel the level whose tokens are judged (1 at level 2, 2 at level 3) */
    public AcceptanceMeter(MeterRegistry registry, int proposingLevel) {
        String level = Integer.toString(proposingLevel);
        this.proposed = Counter.builder("triforce.tokens.proposed").tag("level", level).register(registry);
        this.accepted = Counter.builder("triforce.tokens.accepted").tag("level", level).register(registry);
        this.rounds = Counter.builder("triforce.verify.rounds").tag("level", level).register(registry);
    }

    /** Adds what one step changed in a session's cumulative counters. */
    public void add(LevelCounters before, LevelCounters after) {
        proposed.increment(after.proposed() - before.proposed());
        accepted.increment(after.accepted() - before.accepted());
        rounds.increment(after.rounds() - before.rounds());
    }
}
