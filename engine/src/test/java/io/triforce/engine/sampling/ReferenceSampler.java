package io.triforce.engine.sampling;

import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.IntStream;

/** The sampling transform written the obvious way (full sort), as an oracle for {@link Sampler}. */
final class ReferenceSampler {

    private ReferenceSampler() {
    }

    static float[] distribution(float[] logits, SamplingParams params) {
        int n = logits.length;
        Integer[] order = IntStream.range(0, n).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.<Integer>comparingDouble(i -> -logits[i]).thenComparingInt(i -> i));
        int k = params.topK() == 0 ? n : Math.min(params.topK(), n);
        double max = logits[order[0]];
        double[] w = new double[k];
        double total = 0;
        for (int r = 0; r < k; r++) {
            w[r] = Math.exp((logits[order[r]] - max) / params.temperature());
            total += w[r];
        }
        double threshold = params.topP() == 1 ? Double.POSITIVE_INFINITY : params.topP() * total;
        int kept = 0;
        double before = 0;
        while (kept < k && (kept == 0 || before < threshold)) {
            before += w[kept++];
        }
        float[] probs = new float[n];
        for (int r = 0; r < kept; r++) {
            probs[order[r]] = (float) (w[r] / before);
        }
        return probs;
    }
}
