package io.triforce.protocol;

/**
 * Default Kafka topic names, all keyed by session id. Every service's application.properties
 * names the topic of each channel with these defaults (overridable by environment variables);
 * co-partitioned topics (same partition count) keep a session on one instance per service.
 */
public final class Topics {

    /** gateway -> all levels: {@link SessionEvent} start / cancel. */
    public static final String SESSIONS = "triforce.sessions";
    /** draft-service -> kv-retrieval-service: {@link Level1Proposal}. */
    public static final String LEVEL1_PROPOSALS = "triforce.level1-proposals";
    /** kv-retrieval-service -> verify-service: {@link Level2Proposal}. */
    public static final String LEVEL2_PROPOSALS = "triforce.level2-proposals";
    /** kv-retrieval-service -> draft-service: {@link Correction}. */
    public static final String CORRECTIONS = "triforce.corrections";
    /** verify-service -> everyone: {@link Commit}, the session's token log. */
    public static final String COMMITTED = "triforce.committed";

    private Topics() {
    }
}
