package io.triforce.protocol.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.triforce.protocol.LevelCounters;
import org.junit.jupiter.api.Test;

class AcceptanceMeterTest {

    @Test
    void addsWhatEachStepChangedUnderTheProposingLevel() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        AcceptanceMeter meter = new AcceptanceMeter(registry, 2);
        LevelCounters a = LevelCounters.ZERO;
        LevelCounters b = new LevelCounters(3, 2, 1);
        LevelCounters c = new LevelCounters(6, 5, 2);
        meter.add(a, b);
        meter.add(b, b); // a stale proposal: nothing judged
        meter.add(b, c);
        assertEquals(6, registry.get("triforce.tokens.proposed").tag("level", "2").counter().count());
        assertEquals(5, registry.get("triforce.tokens.accepted").tag("level", "2").counter().count());
        assertEquals(2, registry.get("triforce.verify.rounds").tag("level", "2").counter().count());
    }
}
