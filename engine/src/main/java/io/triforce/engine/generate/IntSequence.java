package io.triforce.engine.generate;

import java.util.Arrays;

/** A growable token sequence: prompt followed by generated tokens. */
public final class IntSequence {

    private int[] tokens;
    private int length;

    public IntSequence(int[] initial) {
        this.tokens = Arrays.copyOf(initial, Math.max(16, initial.length * 2));
        this.length = initial.length;
    }

    public int length() {
        return length;
    }

    public int get(int i) {
        if (i < 0 || i >= length) {
            throw new IndexOutOfBoundsException(i + " outside [0, " + length + ")");
        }
        return tokens[i];
    }

    public int last() {
        return get(length - 1);
    }

    public void add(int token) {
        if (length == tokens.length) {
            tokens = Arrays.copyOf(tokens, tokens.length * 2);
        }
        tokens[length++] = token;
    }

    public void addAll(int[] more) {
        for (int t : more) {
            add(t);
        }
    }

    public void truncate(int newLength) {
        if (newLength < 0 || newLength > length) {
            throw new IllegalArgumentException("cannot truncate a sequence of " + length + " to " + newLength);
        }
        length = newLength;
    }

    /** Tokens [from, to). */
    public int[] slice(int from, int to) {
        if (from < 0 || to > length || from > to) {
            throw new IndexOutOfBoundsException("[" + from + ", " + to + ") outside [0, " + length + ")");
        }
        return Arrays.copyOfRange(tokens, from, to);
    }

    public IntSequence copy() {
        return new IntSequence(slice(0, length));
    }
}
