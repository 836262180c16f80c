package io.triforce.engine.backend;

import io.triforce.engine.kv.KvCache;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.model.ModelConfig;
import io.triforce.engine.sampling.Sampler;

/**
 * A loaded model on one backend. {@link #forward} runs a block of tokens through the
 * decoder, appending their keys and values to {@code cache}; feeding a block at once gives
 * bit-identical logits to feeding the same tokens one by one.
 */
public interface Transformer extends AutoCloseable {

    ModelConfig config();

    /** A new, empty cache of the requested kind, owned by this model's backend. */
    KvCache newCache(KvCacheSpec spec);

    /**
     * Runs {@code tokens} at the cache's next positions.
     *
     * @param logitRows how many of the block's last rows need logits (0: none, e.g. a prefill
     *                  whose next token is fed later; tokens.length: all)
     * @return logits [logitRows][vocab] for the last {@code logitRows} tokens of the block
     */
    float[][] forward(int[] tokens, KvCache cache, int logitRows);

    /**
     * {@link #forward} for greedy decoding: the next token after each of the block's last
     * {@code rows} tokens (the argmax of that row, the lowest id on ties). A backend may pick on
     * its device so that only token ids, not rows of logits, reach the host.
     */
    default int[] greedyNext(int[] tokens, KvCache cache, int rows) {
        float[][] logits = forward(tokens, cache, rows);
        int[] next = new int[rows];
        for (int r = 0; r < rows; r++) {
            next[r] = Sampler.argmax(logits[r]);
        }
        return next;
    }

    /**
     * Greedy decoding from {@code token}, one pick at a time, at most {@code limit} picks. A
     * backend may run ahead of the caller by a step; this one feeds a token when its pick is asked for.
     */
    default GreedyRun greedyRun(int token, KvCache cache, int limit) {
        return new GreedyRun() {
            private int last = token;
            private int taken;

            @Override
            public int next() {
                if (taken == limit) {
                    throw new IllegalStateException("the run's " + limit + " picks are taken");
                }
                taken++;
                last = greedyNext(new int[] {last}, cache, 1)[0];
                return last;
            }

            @Override
            public void close() {
            }
        };
    }

    @Override
    default void close() {
    }
}
