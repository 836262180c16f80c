package io.triforce.engine.cli;

import picocli.CommandLine.Option;

/** Where the target runs; the level-1 draft always runs on the CPU (its StreamingLLM cache is CPU-only). */
final class BackendOption {

    @Option(names = "--backend", paramLabel = "NAME",
            description = "cpu, cuda, or auto: CUDA when a GPU and driver are usable, else the CPU (default ${DEFAULT-VALUE}).")
    String backend = "auto";
}
