package io.triforce.engine.cli;

import io.triforce.engine.backend.Backends;
import io.triforce.engine.spec.TriForceConfig;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Options shared by the commands that run TriForce: the draft model and the hierarchy's knobs. */
final class TriForceOptions {

    @Option(names = "--draft-model", paramLabel = "DIR", description = "Draft checkpoint directory (level 1), required for --mode triforce.")
    Path draftModel;

    @Option(names = "--draft-backend", paramLabel = "NAME",
            description = "Where the draft runs: same (the target's backend), cpu, cuda or auto (default ${DEFAULT-VALUE}).")
    String draftBackend = "same";

    @Option(names = "--budget", paramLabel = "B", description = "Retrieval cache budget in tokens (default ${DEFAULT-VALUE}).")
    int budget = TriForceConfig.DEFAULTS.budget();

    @Option(names = "--chunk", paramLabel = "C", description = "Retrieval chunk size in tokens (default ${DEFAULT-VALUE}).")
    int chunk = TriForceConfig.DEFAULTS.chunk();

    @Option(names = "--gamma", paramLabel = "G", description = "Tokens level 2 proposes per target verification:"
            + " its first proposal's, or every one's with --no-adaptive (default ${DEFAULT-VALUE}).")
    int gamma = TriForceConfig.DEFAULTS.gamma2();

    @Option(names = "--gamma1", paramLabel = "G", description = "Tokens the draft proposes per level-2 round:"
            + " its first proposal's, or every one's with --no-adaptive (default ${DEFAULT-VALUE}).")
    int gamma1 = TriForceConfig.DEFAULTS.gamma1();

    @Option(names = "--adaptive", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Proposal lengths that follow the verdicts (the default): --gamma and --gamma1 are where"
                    + " the levels start; two more after a proposal accepted whole, half as many after a rejection,"
                    + " up to 16 and 8 (or the values given, if more). --no-adaptive keeps them fixed (then set them:"
                    + " 3 and 1 suit a CPU).")
    boolean adaptive;

    @Option(names = "--window", paramLabel = "W", description = "Draft StreamingLLM window (default ${DEFAULT-VALUE}).")
    int window = TriForceConfig.DEFAULTS.window();

    @Option(names = "--sinks", paramLabel = "S", description = "Draft StreamingLLM sink tokens (default ${DEFAULT-VALUE}).")
    int sinks = TriForceConfig.DEFAULTS.sinks();

    @Option(names = "--rebuild", paramLabel = "POLICY", description = "Retrieval re-selection: prefill, every:N or acceptance:X (default ${DEFAULT-VALUE}).")
    String rebuild = "prefill";

    TriForceConfig config() {
        return new TriForceConfig(gamma1, gamma, budget, chunk, sinks, window, TriForceConfig.rebuildPolicy(rebuild),
                adaptive);
    }

    /** Where the draft runs: same (the target's backend), cpu, cuda or auto; anything else is an error here. */
    String draftBackend() {
        if (!draftBackend.equals("same") && !Backends.NAMES.contains(draftBackend)) {
            throw new IllegalArgumentException("unknown --draft-backend '" + draftBackend
                    + "' (use same, cpu, cuda or auto)");
        }
        return draftBackend;
    }

    Path requireDraft(String mode) {
        if (draftModel == null) {
            throw new IllegalArgumentException("--mode " + mode + " needs --draft-model DIR");
        }
        return draftModel;
    }
}
