package io.triforce.engine.spec;

/**
 * How many tokens a level proposes next: a fixed number, or one that follows the verdicts on its
 * proposals, additive increase and multiplicative decrease: two more after a proposal accepted whole,
 * half as many after a rejection, within [1, max]. (On the GPU this beat Hugging Face's assisted-generation
 * schedule, one fewer after a rejection, in each of four settings measured: README.) Any length keeps
 * the output exact: only how much is speculated changes, never how it is judged.
 */
final class ProposalLength {

    private final int max;
    private final boolean adaptive;
    private int next;

    ProposalLength(int start, int max, boolean adaptive) {
        this.next = start;
        this.max = max;
        this.adaptive = adaptive;
    }

    /** Tokens to propose next, at most {@code room}. */
    int next(int room) {
        return Math.min(next, room);
    }

    /** What the level above kept of a proposal of {@code proposed} tokens. */
    void record(int proposed, int accepted) {
        if (adaptive && proposed > 0) {
            next = accepted == proposed ? Math.min(max, next + 2) : Math.max(1, next / 2);
        }
    }
}
