package io.triforce.engine.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.triforce.engine.generate.Generation;
import io.triforce.engine.tokenizer.IncrementalDecoder;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code triforce generate}: one completion, streamed as text or printed as one JSON object. */
@Command(name = "generate", description = "Generate a continuation of a prompt.")
final class GenerateCommand implements Callable<Integer> {

    @Mixin
    TargetOptions target;

    @ArgGroup(multiplicity = "1")
    PromptSource prompt;

    static final class PromptSource {
        @Option(names = "--prompt", paramLabel = "TEXT", description = "Prompt text.")
        String text;

        @Option(names = "--prompt-ids", paramLabel = "FILE", description = "JSON array of prompt token ids.")
        Path idsFile;
    }

    @Option(names = "--max-new-tokens", paramLabel = "N", description = "Tokens to generate at most (default ${DEFAULT-VALUE}).")
    int maxNewTokens = 128;

    @Option(names = "--mode", paramLabel = "MODE", description = "ar (target alone) or triforce (default ${DEFAULT-VALUE}).")
    String mode = "ar";

    @Option(names = "--stop", paramLabel = "TEXT", description = "Stop before this text (repeatable).")
    List<String> stop = List.of();

    @Option(names = "--json", description = "Print one JSON object instead of streaming text.")
    boolean json;

    @Mixin
    SamplingOptions sampling;

    @Mixin
    TriForceOptions triforce;

    @Override
    public Integer call() throws Exception {
        try (LoadedModels models = target.load()) {
            int[] ids = prompt.idsFile != null ? Json.readTokenIds(prompt.idsFile) : models.tokenizer.encode(prompt.text);
            PrintStream out = System.out;
            StopStrings text = new StopStrings(new IncrementalDecoder(models.tokenizer, ids), stop,
                    json ? chunk -> { } : chunk -> {
                        out.print(chunk);
                        out.flush();
                    });
            Generation g = models.decoder(mode, triforce).generate(ids, maxNewTokens, sampling.params(), text);
            String completion = text.finish();
            if (!json) {
                out.println();
                return 0;
            }
            ObjectNode result = Json.MAPPER.createObjectNode();
            result.set("tokens", Json.MAPPER.valueToTree(g.tokens()));
            result.put("text", completion);
            result.put("prompt_tokens", ids.length);
            result.put("finish_reason", text.stopped() ? "stop" : g.finishReason().openAiName());
            result.put("seconds", (g.prefillNanos() + g.decodeNanos()) / 1e9);
            result.put("prefill_seconds", g.prefillNanos() / 1e9);
            result.put("tokens_per_second", g.decodeTokensPerSecond());
            result.put("mode", mode);
            if (mode.equals("triforce")) {
                result.set("stats", Json.stats(g.stats()));
            }
            out.println(Json.MAPPER.writeValueAsString(result));
            return 0;
        }
    }
}
