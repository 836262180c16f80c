package io.triforce.engine.spec;

import io.triforce.engine.sampling.Sampler;
import io.triforce.engine.sampling.SamplingParams;
import java.util.random.RandomGenerator;

/**
 * One request's sampling: the parameters plus the seeded random stream every level draws
 * from. The same {@link #distribution} transform (temperature, top-k, top-p) is applied to
 * every model's logits, so draft and target distributions are comparable.
 */
public final class TokenPicker {

    private final SamplingParams params;
    private final RandomGenerator random;

    public TokenPicker(SamplingParams params) {
        this.params = params;
        this.random = Sampler.newRandom(params.seed());
    }

    public SamplingParams params() {
        return params;
    }

    public boolean greedy() {
        return params.isGreedy();
    }

    /** The transformed probability vector for {@code logits}. */
    public float[] distribution(float[] logits) {
        return Sampler.distribution(logits, params);
    }

    /** argmax when greedy, otherwise a draw from {@link #distribution}. */
    public int pick(float[] logits) {
        return greedy() ? Sampler.argmax(logits) : sample(distribution(logits));
    }

    public int sample(float[] probabilities) {
        return Sampler.sample(probabilities, random);
    }

    /** A uniform draw in [0, 1). */
    public double uniform() {
        return random.nextDouble();
    }
}
