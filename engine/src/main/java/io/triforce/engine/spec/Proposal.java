package io.triforce.engine.spec;

/**
 * Tokens a lower level proposes to the level above, with the distribution each was drawn
 * from (after the request's temperature/top-k/top-p); {@code probabilities} is null for
 * greedy decoding, where only the tokens matter.
 *
 * @param tokens        [k]
 * @param probabilities [k] rows of [vocab], on the host or on the device that drew them; or null
 */
public record Proposal(int[] tokens, ProbabilityRow[] probabilities) {

    /** No tokens: the verifier's next token is then its own draw (a bonus token). */
    public static final Proposal NONE = new Proposal(new int[0], new ProbabilityRow[0]);

    public int size() {
        return tokens.length;
    }
}
