package io.triforce.engine.cli;

import io.triforce.engine.generate.TokenSink;
import io.triforce.engine.tokenizer.IncrementalDecoder;
import java.util.List;
import java.util.function.Consumer;

/**
 * Turns committed tokens into text and stops generation at the first stop string; the text
 * handed on never includes the stop string. Text that could still be the start of a stop
 * string is held back until it cannot.
 */
final class StopStrings implements TokenSink {

    private final IncrementalDecoder decoder;
    private final List<String> stops;
    private final Consumer<String> downstream;
    private final StringBuilder text = new StringBuilder();
    private int emitted;
    private boolean stopped;

    StopStrings(IncrementalDecoder decoder, List<String> stops, Consumer<String> downstream) {
        for (String s : stops) {
            if (s.isEmpty()) {
                throw new IllegalArgumentException("stop strings must not be empty");
            }
        }
        this.decoder = decoder;
        this.stops = stops;
        this.downstream = downstream;
    }

    @Override
    public boolean accept(int token) {
        text.append(decoder.accept(token));
        int cut = firstStop();
        if (cut >= 0) {
            text.setLength(cut);
            stopped = true;
        }
        int safe = stopped ? text.length() : text.length() - longestPendingPrefix();
        if (safe > emitted) {
            downstream.accept(text.substring(emitted, safe));
            emitted = safe;
        }
        return !stopped;
    }

    /** Flushes what is left and returns the whole completion text. */
    String finish() {
        if (!stopped) {
            text.append(decoder.flush());
            int cut = firstStop();
            if (cut >= 0) {
                text.setLength(cut);
                stopped = true;
            }
        }
        if (text.length() > emitted) {
            downstream.accept(text.substring(emitted));
            emitted = text.length();
        }
        return text.toString();
    }

    boolean stopped() {
        return stopped;
    }

    private int firstStop() {
        int first = -1;
        for (String s : stops) {
            int at = text.indexOf(s, Math.max(0, emitted - s.length()));
            if (at >= 0 && (first < 0 || at < first)) {
                first = at;
            }
        }
        return first;
    }

    /** Length of the longest suffix of the text that is a proper prefix of some stop string. */
    private int longestPendingPrefix() {
        int longest = 0;
        for (String s : stops) {
            for (int len = Math.min(s.length() - 1, text.length() - emitted); len > longest; len--) {
                if (text.substring(text.length() - len).equals(s.substring(0, len))) {
                    longest = len;
                    break;
                }
            }
        }
        return longest;
    }
}
