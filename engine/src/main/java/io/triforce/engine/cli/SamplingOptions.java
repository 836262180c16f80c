package io.triforce.engine.cli;

import io.triforce.engine.sampling.SamplingParams;
import picocli.CommandLine.Option;

/** --temperature / --top-p / --top-k / --seed. Temperature 0 (the default) is greedy. */
final class SamplingOptions {

    @Option(names = "--temperature", paramLabel = "T", description = "0 = greedy (default ${DEFAULT-VALUE}).")
    double temperature = 0;

    @Option(names = "--top-p", paramLabel = "P", description = "Nucleus sampling mass in (0, 1] (default ${DEFAULT-VALUE}).")
    double topP = 1;

    @Option(names = "--top-k", paramLabel = "K", description = "Keep the K most likely tokens, 0 = all (default ${DEFAULT-VALUE}).")
    int topK = 0;

    @Option(names = "--seed", paramLabel = "S", description = "Random seed (default ${DEFAULT-VALUE}).")
    long seed = 0;

    SamplingParams params() {
        return new SamplingParams(temperature, topK, topP, seed);
    }
}
