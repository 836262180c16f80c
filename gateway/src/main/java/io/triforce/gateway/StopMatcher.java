package io.triforce.gateway;

import java.util.List;

/**
 * Finds stop strings in streamed text: text is released as soon as it can no longer be the
 * beginning of a stop string; at a stop string, the text before it is released and the stream ends.
 */
final class StopMatcher {

    private final List<String> stops;
    private final StringBuilder held = new StringBuilder();
    private boolean stopped;

    StopMatcher(List<String> stops) {
        this.stops = stops;
    }

    /** Adds text; returns what may be shown now. */
    String add(String text) {
        if (stopped) {
            return "";
        }
        held.append(text);
        int at = -1;
        for (String s : stops) {
            int i = held.indexOf(s);
            if (i >= 0 && (at < 0 || i < at)) {
                at = i;
            }
        }
        if (at >= 0) {
            stopped = true;
            String out = held.substring(0, at);
            held.setLength(0);
            return out;
        }
        int keep = 0;
        for (String s : stops) {
            for (int n = Math.min(s.length() - 1, held.length()); n > keep; n--) {
                if (held.substring(held.length() - n).equals(s.substring(0, n))) {
                    keep = n;
                    break;
                }
            }
        }
        String out = held.substring(0, held.length() - keep);
        held.delete(0, held.length() - keep);
        return out;
    }

    /** The text still held back, at the end of the stream. */
    String flush() {
        String out = stopped ? "" : held.toString();
        held.setLength(0);
        return out;
    }

    boolean stopped() {
        return stopped;
    }
}
