package io.triforce.engine.generate;

/** Why generation ended, in OpenAI's vocabulary. */
public enum FinishReason {
    /** end-of-sequence token or a stop string */
    STOP,
    /** max new tokens reached, or the context is full */
    LENGTH,
    /** the sink asked to stop for another reason (e.g. the client went away) */
    CANCELLED;

    public String openAiName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
