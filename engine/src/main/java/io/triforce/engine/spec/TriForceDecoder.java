package io.triforce.engine.spec;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.generate.Decoder;
import io.triforce.engine.generate.Emitter;
import io.triforce.engine.generate.Generation;
import io.triforce.engine.generate.IntSequence;
import io.triforce.engine.generate.TokenSink;
import io.triforce.engine.kv.KvCache;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.kv.RetrievalCache;
import io.triforce.engine.kv.StreamingCache;
import io.triforce.engine.sampling.SamplingParams;
import java.util.Arrays;

/**
 * TriForce: level 1 (tiny draft, StreamingLLM cache) feeds level 2 (target weights,
 * retrieval cache), which feeds level 3 (target, full cache). Only level 3 commits tokens,
 * with the rejection sampler, so the output is exactly the target's: the same tokens under
 * greedy decoding, the same distribution under sampling.
 */
public final class TriForceDecoder implements Decoder {

    private final Transformer target;
    private final Transformer draft;
    private final TriForceConfig config;
    private final RejectionSampler level2Rejection;
    private final RejectionSampler level3Rejection = new RejectionSampler();

    public TriForceDecoder(Transformer target, Transformer draft, TriForceConfig config) {
        this(target, draft, config, new RejectionSampler());
    }

    /**
     * With another rejection sampler at level 2 (the retrieval draft judging the tiny draft):
     * lets tests prove that the sampling-exactness test catches a wrong level-2 rule.
     */
    TriForceDecoder(Transformer target, Transformer draft, TriForceConfig config, RejectionSampler level2Rejection) {
        if (target.config().vocabSize() != draft.config().vocabSize()) {
            throw new IllegalArgumentException("draft vocabulary (" + draft.config().vocabSize()
                    + ") differs from the target's (" + target.config().vocabSize() + "): they must share a tokenizer");
        }
        this.target = target;
        this.draft = draft;
        this.config = config;
        this.level2Rejection = level2Rejection;
    }

    @Override
    public Generation generate(int[] prompt, int maxNewTokens, SamplingParams sampling, TokenSink sink) {
        try (Session session = new Session(prompt, maxNewTokens, sink)) {
            TokenPicker picker = new TokenPicker(sampling);
            long start = System.nanoTime();
            session.prefill();
            long decodeStart = System.nanoTime();
            while (session.step(picker)) {
                // each step commits at least one token
            }
            long end = System.nanoTime();
            return session.finish(decodeStart - start, end - decodeStart);
        }
    }

    /** The state of one generation across the three levels. */
    private final class Session implements AutoCloseable {
        private final int[] prompt;
        private final Emitter out;
        private final IntSequence sequence;
        private final KvCache fullCache;
        private final RetrievalCache retrievalCache;
        private final StreamingCache draftCache;
        private final CacheScorer verifier;
        private final RetrievalProposer level2;
        private final LevelStats level2Stats = new LevelStats();
        private final ProposalLength level2Length;   // tokens level 2 proposes a target pass
        private int rebuilds;
        private int builtAtLength;
        private long proposedAtBuild;
        private long acceptedAtBuild;

        Session(int[] prompt, int maxNewTokens, TokenSink sink) {
            this.prompt = prompt;
            this.out = new Emitter(target.config(), prompt.length, maxNewTokens, sink);
            this.sequence = new IntSequence(prompt);
            this.fullCache = target.newCache(new KvCacheSpec.Full(KvCacheSpec.Full.capacityFor(target.config(),
                    prompt.length, maxNewTokens, config.maxGamma2() + 1)));
            this.retrievalCache = (RetrievalCache) target.newCache(
                    new KvCacheSpec.Retrieval(config.budget(), config.chunk(), 4 * config.maxGamma2()));
            this.draftCache = (StreamingCache) draft.newCache(new KvCacheSpec.Streaming(
                    config.sinks(), config.window(), config.maxGamma1() + config.maxGamma2() + 4));
            this.verifier = new CacheScorer(target, fullCache);
            this.level2 = new RetrievalProposer(new DraftModelProposer(draft, draftCache),
                    new CacheScorer(target, retrievalCache, true), level2Rejection,
                    new ProposalLength(config.gamma1(), config.maxGamma1(), config.adaptive()));
            this.level2Length = new ProposalLength(config.gamma2(), config.maxGamma2(), config.adaptive());
        }

        void prefill() {
            target.forward(Arrays.copyOf(prompt, prompt.length - 1), fullCache, 0);
            level2.prefillDraft(prompt);
            rebuild();
        }

        /** One level-3 round: level 2 proposes, the target verifies, tokens commit. */
        boolean step(TokenPicker picker) {
            int base = sequence.length();
            Proposal proposal = level2.propose(sequence, level2Length.next(out.remaining()), picker);
            long start = System.nanoTime();
            Verdict verdict = verifier.verify(sequence, proposal, level3Rejection, picker);
            level2Stats.record(proposal.size(), verdict, System.nanoTime() - start);
            level2Length.record(proposal.size(), verdict.accepted());
            boolean more = true;
            for (int i = 0; i <= verdict.accepted() && more; i++) {
                int token = i < verdict.accepted() ? proposal.tokens()[i] : verdict.nextToken();
                sequence.add(token);
                more = out.emit(token);
            }
            verifier.rollback(base + verdict.accepted());
            retrievalCache.syncTail(fullCache);
            level2.rollback(base + verdict.accepted());
            if (more && config.rebuild().shouldRebuild(sequence.length() - builtAtLength,
                    level2Stats.proposed() - proposedAtBuild, level2Stats.accepted() - acceptedAtBuild)) {
                rebuild();
            }
            return more;
        }

        private void rebuild() {
            retrievalCache.rebuild(fullCache);
            rebuilds++;
            builtAtLength = sequence.length();
            proposedAtBuild = level2Stats.proposed();
            acceptedAtBuild = level2Stats.accepted();
        }

        Generation finish(long prefillNanos, long decodeNanos) {
            return new Generation(out.tokens(), out.finishReason(), prefillNanos, decodeNanos,
                    new SpeculationStats(level2.level1Stats(), level2Stats, rebuilds, level2.draftNanos()));
        }

        @Override
        public void close() {
            draftCache.close();
            retrievalCache.close();
            fullCache.close();
        }
    }
}
