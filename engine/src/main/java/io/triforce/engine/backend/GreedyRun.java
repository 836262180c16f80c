package io.triforce.engine.backend;

/**
 * Greedy decoding one pick at a time ({@link Transformer#greedyRun}): the picks of feeding the first
 * token and then each pick in turn, as {@link Transformer#greedyNext} token by token gives them,
 * where a backend may run a step ahead of the caller (a GPU queues the next step before the host has
 * read this one's pick).
 */
public interface GreedyRun extends AutoCloseable {

    /** The next pick. */
    int next();

    /**
     * Ends the run. The cache then holds what a loop of {@code greedyNext} would have fed: the first
     * token and every pick taken but the last.
     */
    @Override
    void close();
}
