package io.triforce.protocol.level;

import io.triforce.engine.generate.IntSequence;
import io.triforce.protocol.Distribution;
import io.triforce.engine.spec.ProbabilityRow;
import io.triforce.engine.spec.Proposal;
import java.util.List;

/** Small helpers the levels share. */
final class Sequences {

    private Sequences() {
    }

    /** Length of the common prefix of {@code a} and {@code b}. */
    static int commonPrefix(IntSequence a, IntSequence b) {
        int n = Math.min(a.length(), b.length());
        int i = 0;
        while (i < n && a.get(i) == b.get(i)) {
            i++;
        }
        return i;
    }

    /** The engine's proposal for wire tokens and distributions (null q: greedy). */
    static Proposal proposal(int[] tokens, List<Distribution> q) {
        return new Proposal(tokens, q == null ? null
                : q.stream().map(d -> ProbabilityRow.of(d.dense())).toArray(ProbabilityRow[]::new));
    }

    /** Distributions for the wire (rows held on a device come down here). */
    static List<Distribution> wire(ProbabilityRow[] probabilities) {
        return probabilities == null ? null
                : java.util.Arrays.stream(probabilities).map(row -> Distribution.of(row.values())).toList();
    }
}
