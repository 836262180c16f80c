package io.triforce.gateway;

import io.triforce.engine.generate.IntSequence;
import io.triforce.engine.tokenizer.IncrementalDecoder;
import io.triforce.protocol.Commit;
import io.triforce.protocol.LevelCounters;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One request's view of its session's committed log: turns commits into text (whole UTF-8
 * characters, stop strings cut off) and into OpenAI chunk / response objects.
 */
final class CompletionRun {

    private final String id;
    private final GenerationRequest request;
    private final String model;
    private final long created = System.currentTimeMillis() / 1000;
    private final IncrementalDecoder decoder;
    private final StopMatcher stops;
    private final StringBuilder text = new StringBuilder();
    /** The session's log as delivered: prompt, then every completion token streamed so far. */
    private final IntSequence log;
    private final long startNanos = System.nanoTime();
    private long firstTokenNanos;
    private long lastTokenNanos;
    private int completionTokens;
    private int tokensAtFirstCommit;
    private String finishReason;
    private Commit last;

    CompletionRun(String id, GenerationRequest request, ServedModel served) {
        this.id = id;
        this.request = request;
        this.model = served.id();
        this.decoder = new IncrementalDecoder(served.tokenizer(), request.prompt());
        this.stops = new StopMatcher(request.stop());
        this.log = new IntSequence(request.prompt());
    }

    String id() {
        return id;
    }

    GenerationRequest request() {
        return request;
    }

    /**
     * Consumes a commit; returns the chunk objects to stream (possibly none). The commit's position
     * in the log decides what is new: tokens already delivered (a restarted verify-service
     * replaying the session) are checked and skipped; a gap or a conflicting token is an error.
     */
    List<Map<String, Object>> accept(Commit commit) {
        if (commit.error() != null) {
            throw new ApiException(500, "server_error", null, "generation_failed", commit.error());
        }
        int[] tokens = commit.tokens();
        int known = log.length() - commit.start();
        if (known < 0) {
            throw new ApiException(500, "server_error", null, "log_gap", "the committed log jumped from position "
                    + log.length() + " to " + commit.start());
        }
        for (int i = 0; i < Math.min(known, tokens.length); i++) {
            if (log.get(commit.start() + i) != tokens[i]) {
                throw new ApiException(500, "server_error", null, "log_conflict", "the committed log was rewritten at position "
                        + (commit.start() + i));
            }
        }
        long now = System.nanoTime();
        if (firstTokenNanos == 0) {
            firstTokenNanos = now;
            tokensAtFirstCommit = tokens.length;
        }
        lastTokenNanos = now;
        last = commit;
        StringBuilder delta = new StringBuilder();
        for (int i = Math.max(0, known); i < tokens.length && !stops.stopped(); i++) {
            log.add(tokens[i]);
            completionTokens++;
            delta.append(stops.add(decoder.accept(tokens[i])));
        }
        if (stops.stopped()) {
            finishReason = "stop";
        } else if (commit.last()) {
            delta.append(stops.add(decoder.flush())).append(stops.flush());
            finishReason = commit.finishReason();
        }
        text.append(delta);
        List<Map<String, Object>> chunks = new ArrayList<>();
        if (!delta.isEmpty()) {
            chunks.add(chunk(delta.toString(), null));
        }
        if (finished()) {
            Map<String, Object> end = chunk("", finishReason);
            end.put("usage", usage());
            end.put("triforce", stats());
            chunks.add(end);
        }
        return chunks;
    }

    boolean finished() {
        return finishReason != null;
    }

    /** Whether the session may still be running (it ended here, on a stop string). */
    boolean endedBeforeLog() {
        return finished() && (last == null || !last.last());
    }

    private Map<String, Object> chunk(String delta, String finish) {
        Map<String, Object> choice = new LinkedHashMap<>();
        choice.put("index", 0);
        if (request.chat()) {
            choice.put("delta", delta.isEmpty() ? Map.of() : Map.of("role", "assistant", "content", delta));
        } else {
            choice.put("text", delta);
            choice.put("logprobs", null);
        }
        choice.put("finish_reason", finish);
        return envelope(request.chat() ? "chat.completion.chunk" : "text_completion", choice);
    }

    /** The non-streaming response. */
    Map<String, Object> response() {
        Map<String, Object> choice = new LinkedHashMap<>();
        choice.put("index", 0);
        if (request.chat()) {
            choice.put("message", Map.of("role", "assistant", "content", text.toString()));
        } else {
            choice.put("text", text.toString());
            choice.put("logprobs", null);
        }
        choice.put("finish_reason", finishReason);
        Map<String, Object> body = envelope(request.chat() ? "chat.completion" : "text_completion", choice);
        body.put("usage", usage());
        body.put("triforce", stats());
        return body;
    }

    private Map<String, Object> envelope(String object, Map<String, Object> choice) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("id", (request.chat() ? "chatcmpl-" : "cmpl-") + id);
        body.put("object", object);
        body.put("created", created);
        body.put("model", model);
        body.put("choices", List.of(choice));
        return body;
    }

    private Map<String, Object> usage() {
        return Map.of("prompt_tokens", request.prompt().length, "completion_tokens", completionTokens,
                "total_tokens", request.prompt().length + completionTokens);
    }

    /**
     * TriForce counters of the session and the decode rate seen here: tokens after the first
     * commit over the time from the first commit to the last.
     */
    private Map<String, Object> stats() {
        Map<String, Object> s = new LinkedHashMap<>();
        LevelCounters l1 = last == null ? LevelCounters.ZERO : last.level1();
        LevelCounters l2 = last == null ? LevelCounters.ZERO : last.level2();
        s.put("level1_acceptance", l1.acceptance());
        s.put("level1_rounds", l1.rounds());
        s.put("level2_acceptance", l2.acceptance());
        s.put("level2_rounds", l2.rounds());
        s.put("time_to_first_token_ms", (firstTokenNanos - startNanos) / 1e6);
        double decodeSeconds = (lastTokenNanos - firstTokenNanos) / 1e9;
        s.put("decode_tokens_per_second", decodeSeconds <= 0 ? 0 : (completionTokens - tokensAtFirstCommit) / decodeSeconds);
        return s;
    }
}
