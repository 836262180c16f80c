package io.triforce.gateway;

import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.triforce.engine.model.CheckpointLoader;
import io.triforce.engine.model.LlamaCheckpoint;
import io.triforce.engine.tokenizer.Tokenizer;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.nio.file.Path;
import java.util.Optional;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/** The target checkpoint the gateway tokenizes for: its id, tokenizer and context length. */
@ApplicationScoped
public class ServedModel {

    @ConfigProperty(name = "triforce.model")
    Path modelDir;
    @ConfigProperty(name = "triforce.model-id")
    Optional<String> configuredId;

    private LlamaCheckpoint checkpoint;
    private Tokenizer tokenizer;

    void start(@Observes StartupEvent event) {
        checkpoint = CheckpointLoader.load(modelDir);
        tokenizer = Tokenizer.load(checkpoint.tokenizerJson());
    }

    void stop(@Observes ShutdownEvent event) throws Exception {
        tokenizer.close();
        checkpoint.close();
    }

    public String id() {
        return configuredId.orElse(modelDir.toAbsolutePath().normalize().getFileName().toString());
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public int contextLength() {
        return checkpoint.config().maxPositions();
    }

    public boolean ready() {
        return tokenizer != null;
    }
}
