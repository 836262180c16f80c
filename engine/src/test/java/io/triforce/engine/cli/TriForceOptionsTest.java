package io.triforce.engine.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.triforce.engine.spec.TriForceConfig;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The hierarchy's knobs on the command line: each backend's defaults, and values given winning over them. */
class TriForceOptionsTest {

    private static TriForceOptions parse(String... args) {
        TriForceOptions options = new TriForceOptions();
        new CommandLine(options).parseArgs(args);
        return options;
    }

    @Test
    void theDefaultsFollowTheTargetsBackend() {
        assertEquals(TriForceConfig.DEFAULTS, parse().config("cpu"));
        TriForceConfig gpu = parse().config("cuda");
        assertEquals(TriForceConfig.GPU_DEFAULTS, gpu);
        assertEquals(12, gpu.gamma2());
        assertEquals(4, gpu.gamma1());
        assertEquals(1024, gpu.budget());
    }

    @Test
    void givenValuesWinOnEitherBackend() {
        for (String backend : new String[] {"cpu", "cuda"}) {
            TriForceConfig c = parse("--gamma", "5", "--gamma1", "2", "--budget", "256").config(backend);
            assertEquals(5, c.gamma2(), backend);
            assertEquals(2, c.gamma1(), backend);
            assertEquals(256, c.budget(), backend);
        }
        TriForceConfig onlyGamma = parse("--gamma", "6").config("cuda");
        assertEquals(6, onlyGamma.gamma2());
        assertEquals(TriForceConfig.GPU_DEFAULTS.gamma1(), onlyGamma.gamma1(), "the rest stay the backend's");
    }
}
