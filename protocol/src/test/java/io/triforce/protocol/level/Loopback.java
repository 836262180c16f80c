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

    /**
     * Level {@code level} (1, 2 or 3) loses the session once {@code afterCommits} commits were made:
     * it is built again from a re-announced start (the prompt and the log so far, in an epoch past
     * every epoch of the log), which the other levels get too; messages already queued for it
     * reach the new one, as a restarted service's consumer replays them.
     */
    record Loss(int level, int afterCommits) {
    }

    private Loopback() {
    }

    /** Runs the session to its last commit and returns the committed log (generated tokens only). */
    static int[] run(Transformer target, Transformer draft, SessionEvent start, LevelSettings settings,
                     Random interleaving) {
        return run(target, draft, start, settings, interleaving, new Loss(0, Integer.MAX_VALUE));
    }

    /** {@link #run}, with one level losing the session on the way. */
    static int[] run(Transformer target, Transformer draft, SessionEvent start, LevelSettings settings,
                     Random interleaving, Loss loss) {
        DraftSession level1 = new DraftSession(draft, start, settings);
        RetrievalSession level2 = new RetrievalSession(target, start, settings);
        VerifySession level3 = new VerifySession(target, start);
        try {
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
            int commits = 0;
            int epoch = 0;
            boolean lost = false;
            for (int step = 0; step < 100_000; step++) {
                if (!lost && commits >= loss.afterCommits()) {
                    lost = true;
                    SessionEvent announce = SessionEvent.reannounce(start.sessionId(), start.prompt(),
                            start.maxTokens(), start.sampling(), log, epoch + 1);
                    if (loss.level() == 1) {
                        level1 = new DraftSession(draft, announce, settings);
                    } else {
                        level1.onReannounce(announce);
                    }
                    if (loss.level() == 2) {
                        level2.close();
                        level2 = new RetrievalSession(target, announce, settings);
                    } else {
                        level2.onReannounce(announce, toLevel1::add);
                    }
                    if (loss.level() == 3 || !level3.onReannounce(announce)) {
                        level3.close();
                        level3 = new VerifySession(target, announce);
                    }
                }
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
                                commits++;
                                epoch = Math.max(epoch, c.epoch());
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
        } finally {
            level2.close();
            level3.close();
        }
    }
}
