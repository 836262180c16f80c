package io.triforce.engine.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** Proposal lengths: fixed ones stay put; adaptive ones grow by two on a whole acceptance, halve on a rejection. */
class ProposalLengthTest {

    @Test
    void aFixedLengthIgnoresTheVerdicts() {
        ProposalLength fixed = new ProposalLength(3, 3, false);
        fixed.record(3, 3);
        fixed.record(3, 0);
        assertEquals(3, fixed.next(10));
        assertEquals(2, fixed.next(2), "never past the room left");
    }

    @Test
    void anAdaptiveLengthFollowsTheVerdictsWithinItsBounds() {
        ProposalLength length = new ProposalLength(3, 8, true);
        length.record(3, 3);
        assertEquals(5, length.next(100), "accepted whole: two more");
        length.record(5, 5);
        length.record(7, 7);
        assertEquals(8, length.next(100), "never past its maximum");
        length.record(8, 2);
        assertEquals(4, length.next(100), "a rejection: half as many");
        length.record(4, 3);
        assertEquals(2, length.next(100));
        length.record(2, 0);
        length.record(1, 0);
        assertEquals(1, length.next(100), "never below one");
        length.record(0, 0);
        assertEquals(1, length.next(100), "an empty proposal says nothing");
    }
}
