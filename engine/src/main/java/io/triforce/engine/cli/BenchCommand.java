package io.triforce.engine.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.triforce.engine.generate.Generation;
import io.triforce.engine.generate.TokenSink;
import io.triforce.engine.sampling.SamplingParams;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code triforce bench}: for each of the first K documents, the first N tokens are the
 * prompt; every mode generates from it; decode tokens/s (prefill excluded), prefill tokens/s,
 * acceptance per level and, for greedy runs, whether TriForce produced AR's exact tokens.
 * The JSON summary is the last line of stdout; progress goes to stderr.
 */
@Command(name = "bench", description = "Benchmark decoding modes on long documents.")
final class BenchCommand implements Callable<Integer> {

    @Mixin
    TargetOptions target;

    @Option(names = "--docs", required = true, paramLabel = "FILE", description = "JSON lines, one {\"text\": ...} per document.")
    Path docs;

    @Option(names = "--context", required = true, paramLabel = "N", description = "Prompt length in tokens.")
    int context;

    @Option(names = "--new-tokens", paramLabel = "N", description = "Tokens to generate (default ${DEFAULT-VALUE}).")
    int newTokens = 128;

    @Option(names = "--modes", paramLabel = "LIST", split = ",", description = "Modes to run (default ar,triforce).")
    List<String> modes = List.of("ar", "triforce");

    @Option(names = "--docs-limit", paramLabel = "K", description = "Documents to use (default ${DEFAULT-VALUE}).")
    int docsLimit = 3;

    private static final int WARM_UP_SECONDS = 8;

    @Option(names = "--json", description = "Print the summary as JSON (always the last line).")
    boolean json;

    @Mixin
    SamplingOptions sampling;

    @Mixin
    TriForceOptions triforce;

    @Override
    public Integer call() throws Exception {
        if (context < 2 || newTokens < 1 || docsLimit < 1) {
            throw new IllegalArgumentException("--context must be >= 2, --new-tokens and --docs-limit >= 1");
        }
        List<String> texts = readDocuments();
        SamplingParams params = sampling.params();
        try (LoadedModels models = target.load()) {
            List<int[]> tokenized = texts.stream().map(models.tokenizer::encode).toList();
            int longest = tokenized.stream().mapToInt(t -> t.length).max().orElse(0);
            if (longest < context) {
                throw new IllegalArgumentException("none of the first " + texts.size() + " documents of " + docs
                        + " has " + context + " tokens (--context); the longest has " + longest);
            }
            warmUp(models, texts.getFirst(), params);
            Map<String, Totals> totals = new LinkedHashMap<>();
            modes.forEach(m -> totals.put(m, new Totals()));
            List<ObjectNode> documents = new ArrayList<>();
            for (int d = 0; d < texts.size(); d++) {
                int[] all = tokenized.get(d);
                if (all.length < context) {
                    System.err.printf("document %d has %d tokens < context %d: skipped%n", d, all.length, context);
                    continue;
                }
                int[] prompt = Arrays.copyOf(all, context);
                ObjectNode doc = Json.MAPPER.createObjectNode().put("index", d);
                Map<String, int[]> outputs = new LinkedHashMap<>();
                for (String mode : modes) {
                    Generation g = models.decoder(mode, triforce).generate(prompt, newTokens, params, TokenSink.IGNORE);
                    totals.get(mode).add(context, g);
                    outputs.put(mode, g.tokens());
                    doc.put(mode + "_tokens_per_second", g.decodeTokensPerSecond());
                    System.err.printf("doc %d %-8s %7.1f tok/s decode, %7.3f s prefill, %d tokens%s%n", d, mode,
                            g.decodeTokensPerSecond(), g.prefillNanos() / 1e9, g.tokens().length,
                            mode.equals("triforce") ? String.format(
                                    ", acceptance %.2f / %.2f, %d target passes, time draft %.0f / retrieval %.0f / target %.0f ms",
                                    g.stats().level1().acceptance(), g.stats().level2().acceptance(),
                                    g.stats().targetForwardPasses(), g.stats().draftNanos() / 1e6,
                                    g.stats().level1().verifyNanos() / 1e6, g.stats().level2().verifyNanos() / 1e6) : "");
                }
                if (params.isGreedy() && outputs.containsKey("ar")) {
                    outputs.forEach((mode, tokens) -> {
                        if (!mode.equals("ar")) {
                            doc.put("identical_to_ar", Arrays.equals(tokens, outputs.get("ar")));
                        }
                    });
                }
                documents.add(doc);
            }
            System.out.println(Json.MAPPER.writeValueAsString(summary(models, totals, documents)));
            return 0;
        }
    }

    private ObjectNode summary(LoadedModels models, Map<String, Totals> totals, List<ObjectNode> documents) {
        ObjectNode result = Json.MAPPER.createObjectNode();
        result.put("context", context).put("new_tokens", newTokens).put("budget", triforce.budget)
                .put("gamma", triforce.gamma).put("gamma1", triforce.gamma1).put("adaptive", triforce.adaptive)
                .put("temperature", sampling.temperature)
                .put("backend", models.targetBackend()).put("draft_backend", models.draftBackend());
        ObjectNode modeNode = result.putObject("modes");
        totals.forEach((mode, t) -> modeNode.set(mode, t.json()));
        if (totals.containsKey("ar") && totals.containsKey("triforce")) {
            result.put("speedup", totals.get("triforce").tokensPerSecond() / totals.get("ar").tokensPerSecond());
        }
        result.set("documents", Json.MAPPER.valueToTree(documents));
        return result;
    }

    /**
     * Runs every mode on a short prompt for at least {@link #WARM_UP_SECONDS} (and two rounds) so
     * the JIT has compiled the kernels before anything is timed.
     */
    private void warmUp(LoadedModels models, String text, SamplingParams params) {
        int[] all = models.tokenizer.encode(text);
        int[] prompt = Arrays.copyOf(all, Math.min(all.length, 1024));
        long end = System.nanoTime() + WARM_UP_SECONDS * 1_000_000_000L;
        for (int round = 0; round < 2 || System.nanoTime() < end; round++) {
            for (String mode : modes) {
                models.decoder(mode, triforce).generate(prompt, 64, params, TokenSink.IGNORE);
            }
        }
    }

    private List<String> readDocuments() throws IOException {
        if (!Files.isRegularFile(docs)) {
            throw new IllegalArgumentException("documents file not found: " + docs);
        }
        List<String> texts = new ArrayList<>();
        for (String line : Files.readAllLines(docs)) {
            if (texts.size() == docsLimit) {
                break;
            }
            if (!line.isBlank()) {
                var node = Json.MAPPER.readTree(line);
                if (node == null || !node.hasNonNull("text")) {
                    throw new IllegalArgumentException(docs + " line " + (texts.size() + 1) + " has no \"text\" field");
                }
                texts.add(node.get("text").asText());
            }
        }
        if (texts.isEmpty()) {
            throw new IllegalArgumentException("no documents in " + docs);
        }
        return texts;
    }

    /** Sums over documents for one mode. */
    private static final class Totals {
        long tokens;
        long promptTokens;
        long decodeNanos;
        long prefillNanos;
        long proposed1, accepted1, proposed2, accepted2, targetPasses;
        long draftNanos, retrievalNanos, targetNanos;

        void add(int prompt, Generation g) {
            tokens += g.tokens().length;
            promptTokens += prompt;
            decodeNanos += g.decodeNanos();
            prefillNanos += g.prefillNanos();
            proposed1 += g.stats().level1().proposed();
            accepted1 += g.stats().level1().accepted();
            proposed2 += g.stats().level2().proposed();
            accepted2 += g.stats().level2().accepted();
            targetPasses += g.stats().targetForwardPasses();
            draftNanos += g.stats().draftNanos();
            retrievalNanos += g.stats().level1().verifyNanos();
            targetNanos += g.stats().level2().verifyNanos();
        }

        double tokensPerSecond() {
            return tokens / (decodeNanos / 1e9);
        }

        ObjectNode json() {
            ObjectNode node = Json.MAPPER.createObjectNode();
            node.put("tokens_per_second", tokensPerSecond());
            node.put("prefill_tokens_per_second", promptTokens / (prefillNanos / 1e9));
            node.put("tokens", tokens);
            if (proposed2 > 0) {
                ObjectNode acceptance = node.putObject("acceptance");
                acceptance.put("level1", (double) accepted1 / proposed1);
                acceptance.put("level2", (double) accepted2 / proposed2);
                node.put("tokens_per_target_pass", (double) tokens / targetPasses);
                ObjectNode time = node.putObject("decode_time_share");
                time.put("draft", (double) draftNanos / decodeNanos);
                time.put("retrieval", (double) retrievalNanos / decodeNanos);
                time.put("target", (double) targetNanos / decodeNanos);
            }
            return node;
        }
    }
}
