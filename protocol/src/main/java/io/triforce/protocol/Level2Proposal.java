package io.triforce.protocol;

import java.util.List;

/**
 * Tokens level 2 proposes to the target for positions {@code [base, base + tokens.length)},
 * made after the committed log's {@code epoch}; {@code q} holds level 2's distribution for each
 * token (null under greedy decoding). {@code level1} are level 2's counters of the draft.
 */
public record Level2Proposal(String sessionId, int epoch, int base, int[] tokens, List<Distribution> q,
                             LevelCounters level1, long sentAtMicros) implements Timestamped {
}
