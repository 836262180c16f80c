package io.triforce.engine.generate;

/** Receives committed tokens one at a time, in order, exactly once. */
@FunctionalInterface
public interface TokenSink {

    /** @return false to stop generation after this token (stop string found, client gone) */
    boolean accept(int token);

    TokenSink IGNORE = token -> true;
}
