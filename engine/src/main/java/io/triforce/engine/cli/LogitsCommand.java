package io.triforce.engine.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.triforce.engine.kv.KvCache;
import io.triforce.engine.kv.KvCacheSpec;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code triforce logits}: the K largest logits after the last prompt token. */
@Command(name = "logits", description = "Print the largest logits after the last prompt token.")
final class LogitsCommand implements Callable<Integer> {

    @Mixin
    TargetOptions target;

    @Option(names = "--prompt-ids", required = true, paramLabel = "FILE", description = "JSON array of prompt token ids.")
    Path idsFile;

    @Option(names = "--top", paramLabel = "K", description = "How many logits (default ${DEFAULT-VALUE}).")
    int top = 5;

    @Option(names = "--json", description = "Print JSON (the default and only format; accepted for symmetry).")
    boolean json;

    @Override
    public Integer call() throws Exception {
        int[] ids = Json.readTokenIds(idsFile);
        if (top < 1) {
            throw new IllegalArgumentException("--top must be >= 1, got " + top);
        }
        try (LoadedModels models = target.load()) {
            if (ids.length > models.target.config().maxPositions()) {
                throw new IllegalArgumentException("the prompt has " + ids.length + " tokens; the model's context is "
                        + models.target.config().maxPositions());
            }
            float[] logits;
            try (KvCache cache = models.target.newCache(new KvCacheSpec.Full(ids.length))) {
                logits = models.target.forward(ids, cache, 1)[0];
            }
            ArrayNode best = Json.MAPPER.createArrayNode();
            IntStream.range(0, logits.length).boxed()
                    .sorted((a, b) -> a.equals(b) ? 0 : Float.compare(logits[b], logits[a]) != 0
                            ? Float.compare(logits[b], logits[a]) : Integer.compare(a, b))
                    .limit(top)
                    .forEach(id -> best.addObject().put("id", id).put("logit", logits[id]));
            ObjectNode result = Json.MAPPER.createObjectNode();
            result.set("top", best);
            System.out.println(Json.MAPPER.writeValueAsString(result));
            return 0;
        }
    }
}
