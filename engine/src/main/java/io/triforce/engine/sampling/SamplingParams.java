package io.triforce.engine.sampling;

/**
 * How the next token is chosen from the logits, as in Hugging Face's generate: the logits are
 * divided by {@code temperature}, then top-k, then top-p (nucleus) filtering keep a support that
 * is renormalised; {@code temperature == 0} is greedy decoding (argmax, no randomness).
 *
 * @param temperature >= 0; 0 = greedy
 * @param topK        keep the k most likely tokens; 0 = no top-k filter
 * @param topP        keep the smallest set of most likely tokens whose mass is >= topP; in
 *                    (0, 1], 1 = no top-p filter
 * @param seed        seed of the random generator ({@link Sampler#newRandom})
 */
public record SamplingParams(double temperature, int topK, double topP, long seed) {

    /** Greedy decoding. */
    public static final SamplingParams GREEDY = new SamplingParams(0, 0, 1, 0);

    /** @throws IllegalArgumentException when a parameter is out of range */
    public SamplingParams {
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be a finite number >= 0 (0 = greedy), got " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("top_k must be >= 0 (0 = no top-k filter), got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top_p must be in (0, 1] (1 = no top-p filter), got " + topP);
        }
    }

    /** Plain sampling at {@code temperature}, without top-k or top-p. */
    public static SamplingParams ofTemperature(double temperature, long seed) {
        return new SamplingParams(temperature, 0, 1, seed);
    }

    /** Whether this is greedy decoding (temperature 0). */
    public boolean isGreedy() {
        return temperature == 0;
    }
}
