package io.triforce.engine.cli;

import io.triforce.engine.spec.TriForceConfig;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The hierarchy's knobs as the CLI reads them: adaptive proposal lengths unless --no-adaptive. */
class TriForceOptionsTest {

    @Command(name = "probe")
    static final class Probe {
        @Mixin
        TriForceOptions triforce;
    }

    private static TriForceConfig parse(String... args) {
        Probe probe = new Probe();
        new CommandLine(probe).parseArgs(args);
        return probe.triforce.config();
    }

    @Test
    void proposalLengthsFollowTheVerdictsByDefault() {
        TriForceConfig c = parse();
        assertTrue(c.adaptive());
        assertEquals(TriForceConfig.DEFAULTS, c);
        assertEquals(8, c.gamma1());
        assertEquals(16, c.gamma2());
        assertEquals(8, c.maxGamma1());
        assertEquals(16, c.maxGamma2());
        assertTrue(parse("--adaptive").adaptive());
    }

    @Test
    void noAdaptiveKeepsTheGivenLengths() {
        TriForceConfig c = parse("--no-adaptive", "--gamma", "5", "--gamma1", "2");
        assertFalse(c.adaptive());
        assertEquals(2, c.maxGamma1());
        assertEquals(5, c.maxGamma2());
    }

    @Test
    void lengthsAboveTheCapsRaiseThem() {
        TriForceConfig c = parse("--gamma", "24", "--gamma1", "10");
        assertEquals(10, c.maxGamma1());
        assertEquals(24, c.maxGamma2());
    }
}
