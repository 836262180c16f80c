package io.triforce.engine.cli;

import io.triforce.engine.backend.Backend;
import io.triforce.engine.backend.Backends;
import io.triforce.engine.backend.Transformer;
import io.triforce.engine.generate.AutoregressiveDecoder;
import io.triforce.engine.generate.Decoder;
import io.triforce.engine.model.CheckpointLoader;
import io.triforce.engine.model.LlamaCheckpoint;
import io.triforce.engine.spec.TriForceConfig;
import io.triforce.engine.spec.TriForceDecoder;
import io.triforce.engine.tokenizer.Tokenizer;
import java.nio.file.Path;

/** The checkpoints a command runs: the target, its tokenizer and, for TriForce, the draft. */
final class LoadedModels implements AutoCloseable {

    final LlamaCheckpoint targetCheckpoint;
    final Transformer target;
    final Tokenizer tokenizer;
    private final Backend targetBackend;
    private LlamaCheckpoint draftCheckpoint;
    private Transformer draft;
    private String draftBackend;

    /** @param backend where the target runs: cpu, cuda or auto */
    LoadedModels(Path targetDir, String backend) {
        this.targetBackend = Backends.named(backend);
        this.targetCheckpoint = CheckpointLoader.load(targetDir);
        this.target = targetBackend.load(targetCheckpoint.weights());
        this.tokenizer = Tokenizer.load(targetCheckpoint.tokenizerJson());
    }

    /** "ar" or "triforce" (which loads the draft on first use). */
    Decoder decoder(String mode, TriForceOptions options) {
        return switch (mode) {
            case "ar" -> new AutoregressiveDecoder(target);
            case "triforce" -> new TriForceDecoder(target, draft(options.requireDraft(mode), options.draftBackend()),
                    options.config());
            default -> throw new IllegalArgumentException("unknown mode '" + mode + "' (use ar or triforce)");
        };
    }

    /** The backend the target runs on ({@code cpu} or {@code cuda}). */
    String targetBackend() {
        return targetBackend.name();
    }

    /** The backend the draft was loaded on, or null before TriForce asked for it. */
    String draftBackend() {
        return draftBackend;
    }

    /** @param backend where the draft runs: cpu, cuda, auto, or same (the target's backend) */
    private Transformer draft(Path dir, String backend) {
        if (draft == null) {
            Backend chosen = backend.equals("same") ? targetBackend : Backends.named(backend);
            draftCheckpoint = CheckpointLoader.load(dir);
            draft = chosen.load(draftCheckpoint.weights());
            draftBackend = chosen.name();
        }
        return draft;
    }

    @Override
    public void close() throws Exception {
        tokenizer.close();
        targetCheckpoint.close();
        if (draftCheckpoint != null) {
            draftCheckpoint.close();
        }
    }
}
