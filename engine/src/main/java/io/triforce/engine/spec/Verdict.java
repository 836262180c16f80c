package io.triforce.engine.spec;

/**
 * What a verifier decided about a {@link Proposal}: the first {@code accepted} tokens stand,
 * and {@code nextToken} follows them — a recovered token (drawn from the residual
 * norm(max(0, p - q)) at the first rejection) or, when everything was accepted, a bonus token
 * drawn from the verifier's distribution after the last proposed token.
 *
 * @param verifierProbabilities the verifier's distributions p for rows 0..accepted (the
 *                              accepted tokens and nextToken), on the host or on its device; null
 *                              when greedy
 */
public record Verdict(int accepted, int nextToken, boolean bonus, ProbabilityRow[] verifierProbabilities) {

    public boolean recovered() {
        return !bonus;
    }
}
