package io.triforce.engine.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The target every command loads, and where it runs (the draft's place: {@link TriForceOptions}). */
final class TargetOptions {

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Target checkpoint directory (Hugging Face layout).")
    Path model;

    @Option(names = "--backend", paramLabel = "NAME",
            description = "cpu, cuda, or auto: CUDA when a GPU and driver are usable, else the CPU (default ${DEFAULT-VALUE}).")
    String backend = "auto";

    /** The target, its tokenizer, and the draft when TriForce asks for it. */
    LoadedModels load() {
        return new LoadedModels(model, backend);
    }
}
