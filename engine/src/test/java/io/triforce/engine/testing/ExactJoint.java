package io.triforce.engine.testing;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.kv.KvCache;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.sampling.Sampler;
import io.triforce.engine.sampling.SamplingParams;

/** A model's exact distribution of its next two tokens, for goodness-of-fit tests of samplers. */
public final class ExactJoint {

    private ExactJoint() {
    }

    /** P(t1, t2 | prompt) under {@code params} at {@code [t1 * vocab + t2]}, by enumerating t1. */
    public static double[] firstTwoTokens(Transformer model, int[] prompt, SamplingParams params) {
        int vocab = model.config().vocabSize();
        try (KvCache cache = model.newCache(new KvCacheSpec.Full(prompt.length + 1))) {
            float[] first = Sampler.distribution(model.forward(prompt, cache, 1)[0], params);
            double[] joint = new double[vocab * vocab];
            for (int t1 = 0; t1 < vocab; t1++) {
                float[] second = Sampler.distribution(model.forward(new int[] {t1}, cache, 1)[0], params);
                cache.truncate(prompt.length);
                for (int t2 = 0; t2 < vocab; t2++) {
                    joint[t1 * vocab + t2] = (double) first[t1] * second[t2];
                }
            }
            return joint;
        }
    }
}
