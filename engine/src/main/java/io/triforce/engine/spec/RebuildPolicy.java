package io.triforce.engine.spec;

/**
 * When the retrieval cache re-selects its chunks: only at prefill (the paper's reference
 * behaviour), every N committed tokens, or when level 2's acceptance by the target since the
 * last selection drops below a threshold (judged after at least {@link #MIN_EVIDENCE} proposed
 * tokens).
 */
public sealed interface RebuildPolicy {

    int MIN_EVIDENCE = 32;

    /** Whether to re-select now, given what happened since the last selection. */
    boolean shouldRebuild(int committedSinceBuild, long proposedSinceBuild, long acceptedSinceBuild);

    record AtPrefill() implements RebuildPolicy {
        @Override
        public boolean shouldRebuild(int committedSinceBuild, long proposedSinceBuild, long acceptedSinceBuild) {
            return false;
        }

        @Override
        public String toString() {
            return "prefill";
        }
    }

    record EveryTokens(int tokens) implements RebuildPolicy {
        public EveryTokens {
            if (tokens < 1) {
                throw new IllegalArgumentException("rebuild interval must be >= 1 token, got " + tokens);
            }
        }

        @Override
        public boolean shouldRebuild(int committedSinceBuild, long proposedSinceBuild, long acceptedSinceBuild) {
            return committedSinceBuild >= tokens;
        }

        @Override
        public String toString() {
            return "every:" + tokens;
        }
    }

    record BelowAcceptance(double threshold) implements RebuildPolicy {
        public BelowAcceptance {
            if (!(threshold > 0 && threshold <= 1)) {
                throw new IllegalArgumentException("acceptance threshold must be in (0, 1], got " + threshold);
            }
        }

        @Override
        public boolean shouldRebuild(int committedSinceBuild, long proposedSinceBuild, long acceptedSinceBuild) {
            return proposedSinceBuild >= MIN_EVIDENCE && acceptedSinceBuild < threshold * proposedSinceBuild;
        }

        @Override
        public String toString() {
            return "acceptance:" + threshold;
        }
    }

    /** Parses "prefill", "every:N" or "acceptance:X". */
    static RebuildPolicy parse(String text) {
        String[] parts = text.split(":", 2);
        try {
            return switch (parts[0]) {
                case "prefill" -> {
                    if (parts.length > 1) {
                        throw new IllegalArgumentException("'prefill' takes no argument");
                    }
                    yield new AtPrefill();
                }
                case "every" -> new EveryTokens(Integer.parseInt(argument(parts)));
                case "acceptance" -> new BelowAcceptance(Double.parseDouble(argument(parts)));
                default -> throw new IllegalArgumentException("unknown rebuild policy '" + text
                        + "' (use prefill, every:N or acceptance:X)");
            };
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bad number in rebuild policy '" + text + "'");
        }
    }

    private static String argument(String[] parts) {
        if (parts.length < 2) {
            throw new IllegalArgumentException("rebuild policy '" + parts[0] + "' needs a value, e.g. " + parts[0]
                    + (parts[0].equals("every") ? ":256" : ":0.6"));
        }
        return parts[1];
    }
}
