package io.triforce.protocol.level;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.triforce.engine.backend.Transformer;
import io.triforce.protocol.Commit;
import io.triforce.protocol.Correction;
import io.triforce.protocol.Level1Proposal;
import io.triforce.protocol.Level2Proposal;
import io.triforce.protocol.SessionEvent;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.Random;
import java.util.stream.IntStream;

/**
 * The three levels of one session wired by in-memory queues (no Kafka): messages are delivered
 * in a random but per-topic ordered interleaving, as Kafka delivers them per partition.
 */
final class Loopback {

    private Loopback() {
    }

    /** Runs the session to its last commit and returns the committed log (generated tokens only). */
    static int[] run(Transformer target, Transformer draft, SessionEvent start, LevelSettings settings,
                     Random interleaving) {
        DraftSession level1 = new DraftSession(draft, start, settings);
        try (RetrievalSession level2 = new RetrievalSession(target, start, settings);
             VerifySession level3 = new VerifySession(target, start)) {
            Deque<Level1Proposal> toLevel2 = new ArrayDeque<>();
            Deque<Level2Proposal> toLevel3 = new ArrayDeque<>();
            Deque<Correction> toLevel1 = new ArrayDeque<>();
            Deque<Commit> commitsToLevel1 = new ArrayDeque<>();
            Deque<Commit> commitsToLevel2 = new ArrayDeque<>();
            RetrievalSession.Outbox outbox = new RetrievalSession.Outbox() {
                @Override
                public void propose(Level2Proposal proposal) {
                    toLevel3.add(proposal);
                }

                @Override
                public void correct(Correction correction) {
                    toLevel1.add(correction);
                }
            };
            int[] log = new int[0];
            for (int step = 0; step < 100_000; step++) {
                switch (interleaving.nextInt(7)) {
                    case 0 -> level1.next().ifPresent(toLevel2::add);
                    case 1 -> {
                        if (!toLevel2.isEmpty()) {
                            level2.onProposal(toLevel2.poll(), outbox);
                        }
                    }
                    case 2 -> {
                        if (!toLevel3.isEmpty()) {
                            var commit = level3.onProposal(toLevel3.poll());
                            if (commit.isPresent()) {
                                Commit c = commit.get();
                                assertEquals(start.prompt().length + log.length, c.start(), "commits are contiguous");
                                log = IntStream.concat(IntStream.of(log), IntStream.of(c.tokens())).toArray();
                                if (c.last()) {
                                    return log;
                                }
                                commitsToLevel1.add(c);
                                commitsToLevel2.add(c);
                            }
                        }
                    }
                    case 3 -> {
                        if (!toLevel1.isEmpty()) {
                            level1.onCorrection(toLevel1.poll());
                        }
                    }
                    case 4 -> {
                        if (!commitsToLevel1.isEmpty()) {
                            level1.onCommit(commitsToLevel1.poll());
                        }
                    }
                    case 6 -> level2.draftAhead(outbox);
                    default -> {
                        if (!commitsToLevel2.isEmpty()) {
                            level2.onCommit(commitsToLevel2.poll(), toLevel1::add);
                        }
                    }
                }
            }
            throw new AssertionError("no final commit after 100000 steps; log so far " + Arrays.toString(log));
        }
    }
}
