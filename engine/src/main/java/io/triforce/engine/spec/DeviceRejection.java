package io.triforce.engine.spec;

import io.triforce.engine.kv.KvCache;

/**
 * A model that runs the sampled rejection test where its logits are (a GPU): it scores the
 * block and judges the proposal with {@link RejectionSampler}'s rule on its device, so only the
 * verdict reaches the host; the verifier's rows of p a level proposing upward keeps stay on the
 * device ({@link ProbabilityRow}), where the level above reads them as its q.
 * {@link CacheScorer} uses it for sampled requests; the CPU backend has no need of it.
 *
 * <p>It takes the uniforms it may need from the picker up front (one per proposed token and
 * one for the recovered or bonus draw), where the host rule takes them as it goes: each draw is
 * still independent of everything else, so the committed tokens are distributed the same.
 */
public interface DeviceRejection {

    /**
     * @param block             the tokens the cache has not seen; its last {@code proposal.size()}
     *                          are the proposal
     * @param keepProbabilities whether the verdict carries the verifier's p for rows 0..accepted
     *                          (a level that proposes upward needs them as the next level's q);
     *                          the proposal's q rows may lie on the host or on this device
     */
    Verdict scoreAndVerify(int[] block, KvCache cache, Proposal proposal, TokenPicker picker, boolean keepProbabilities);
}
