package io.triforce.protocol;

import java.util.List;

/**
 * Tokens the tiny draft proposes for positions {@code [base, base + tokens.length)} of the
 * session, made after the {@link Correction} of {@code epoch}; {@code q} holds the draft's
 * distribution for each token, null under greedy decoding.
 */
public record Level1Proposal(String sessionId, int epoch, int base, int[] tokens, List<Distribution> q,
                             long sentAtMicros) implements Timestamped {
}
