package io.triforce.engine.generate;

import io.triforce.engine.model.ModelConfig;
import java.util.Arrays;

/**
 * Hands committed tokens to the sink and decides when generation ends: end-of-sequence
 * token, max new tokens, a full context, or a sink that declines.
 */
public final class Emitter {

    private final ModelConfig config;
    private final int maxNewTokens;
    private final int roomInContext;
    private final TokenSink sink;
    private int[] tokens = new int[64];
    private int count;
    private FinishReason finish;

    public Emitter(ModelConfig config, int promptLength, int maxNewTokens, TokenSink sink) {
        if (promptLength < 1) {
            throw new IllegalArgumentException("the prompt must contain at least one token");
        }
        if (maxNewTokens < 1) {
            throw new IllegalArgumentException("max new tokens must be at least 1, got " + maxNewTokens);
        }
        if (promptLength >= config.maxPositions()) {
            throw new IllegalArgumentException("the prompt has " + promptLength + " tokens; the model's context is "
                    + config.maxPositions());
        }
        this.config = config;
        this.maxNewTokens = maxNewTokens;
        this.roomInContext = config.maxPositions() - promptLength;
        this.sink = sink;
    }

    /** Commits {@code token}; returns whether generation goes on. */
    public boolean emit(int token) {
        if (finish != null) {
            throw new IllegalStateException("generation already finished: " + finish);
        }
        if (config.isEos(token)) {
            finish = FinishReason.STOP;
            return false;
        }
        if (count == tokens.length) {
            tokens = Arrays.copyOf(tokens, count * 2);
        }
        tokens[count++] = token;
        if (!sink.accept(token)) {
            finish = FinishReason.STOP;
            return false;
        }
        if (count >= maxNewTokens || count >= roomInContext) {
            finish = FinishReason.LENGTH;
            return false;
        }
        return true;
    }

    /** Tokens a speculation may still add without passing max new tokens or the context. */
    public int remaining() {
        return Math.min(maxNewTokens, roomInContext) - count;
    }

    public int[] tokens() {
        return Arrays.copyOf(tokens, count);
    }

    public FinishReason finishReason() {
        return finish;
    }
}
