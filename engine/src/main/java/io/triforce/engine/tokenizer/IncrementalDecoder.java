package io.triforce.engine.tokenizer;

import java.util.Arrays;

/**
 * Turns a stream of token ids into a stream of text for one generation, token by token.
 *
 * <p>Each {@link #accept} returns only the text completed by that token: a token that ends inside
 * a multi-byte UTF-8 character (byte-level BPE, byte-fallback pieces) makes the character's
 * replacement character U+FFFD appear at the end of the decoded text, and that tail is held
 * back until a later token completes it. The concatenation of everything returned, {@link #flush}
 * included, equals {@link Tokenizer#decode} of all accepted ids.
 *
 * <p>Cost per token: one decode of a small window, the tokens since the last point where the
 * text ended on a whole character, plus a few before it (SentencePiece-style decoders drop the
 * leading space of the first token of a decode, so the window always starts with a token whose
 * text was already emitted). A stream whose text keeps ending in U+FFFD (invalid bytes, or
 * literal replacement characters) widens the window until it ends on a whole character again.
 *
 * <p>Not thread-safe: one instance per stream.
 */
public final class IncrementalDecoder {

    /** Context tokens kept from the prompt. */
    private static final int CONTEXT_TOKENS = 4;
    /** Window length from which the window is cut back to its last clean point. */
    private static final int SLIDE_AT = 8;
    private static final char REPLACEMENT = '\uFFFD';

    private final Tokenizer tokenizer;
    private int[] window = new int[2 * SLIDE_AT];
    private int size;
    /** Chars of decode(window) already emitted (or belonging to the context). */
    private int emitted;
    /** Window length at which decode(window) last ended on a whole character. */
    private int clean;

    /** A decoder for a stream that starts from nothing. */
    public IncrementalDecoder(Tokenizer tokenizer) {
        this(tokenizer, new int[0]);
    }

    /**
     * A decoder for tokens that follow {@code context} (typically the prompt). The context's own
     * text is never emitted; it gives the first tokens the surroundings that the full decode
     * would give them, and a character begun in the context is emitted once a token completes it.
     */
    public IncrementalDecoder(Tokenizer tokenizer, int[] context) {
        this.tokenizer = tokenizer;
        for (int i = Math.max(0, context.length - CONTEXT_TOKENS); i < context.length; i++) {
            push(context[i]);
        }
        String text = tokenizer.decode(window, 0, size);
        emitted = stableEnd(text, 0);
        clean = emitted == text.length() ? size : 0;
    }

    /** Accepts the next token and returns the text it completes (possibly empty). */
    public String accept(int token) {
        push(token);
        String text = tokenizer.decode(window, 0, size);
        int end = stableEnd(text, emitted);
        String out = end > emitted ? text.substring(emitted, end) : "";
        emitted = Math.max(emitted, end);
        if (end == text.length()) {
            if (size >= SLIDE_AT && clean > 0) {
                size -= clean;
                System.arraycopy(window, clean, window, 0, size);
                emitted = tokenizer.decode(window, 0, size).length();
            }
            clean = size;
        }
        return out;
    }

    /**
     * Ends the stream: returns the text still held back (an unfinished character decodes to
     * U+FFFD, as in {@link Tokenizer#decode}) and starts a fresh stream without context.
     */
    public String flush() {
        String text = tokenizer.decode(window, 0, size);
        String out = text.substring(Math.min(emitted, text.length()));
        size = 0;
        emitted = 0;
        clean = 0;
        return out;
    }

    private void push(int token) {
        if (size == window.length) {
            window = Arrays.copyOf(window, 2 * size);
        }
        window[size++] = token;
    }

    /** The end of {@code text} without its trailing U+FFFD run, but not before {@code from}. */
    private static int stableEnd(String text, int from) {
        int end = text.length();
        while (end > from && text.charAt(end - 1) == REPLACEMENT) {
            end--;
        }
        return end;
    }
}
