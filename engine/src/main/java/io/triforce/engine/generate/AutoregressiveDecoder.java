package io.triforce.engine.generate;

import io.triforce.engine.backend.GreedyRun;
import io.triforce.engine.backend.Transformer;
import io.triforce.engine.kv.KvCache;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.engine.spec.DeviceRejection;
import io.triforce.engine.spec.Proposal;
import io.triforce.engine.spec.SpeculationStats;
import io.triforce.engine.spec.TokenPicker;
import java.util.Arrays;

/** The baseline: the target alone, one token per forward pass over its full KV cache. */
public final class AutoregressiveDecoder implements Decoder {

    private final Transformer target;

    public AutoregressiveDecoder(Transformer target) {
        this.target = target;
    }

    @Override
    public Generation generate(int[] prompt, int maxNewTokens, SamplingParams sampling, TokenSink sink) {
        Emitter out = new Emitter(target.config(), prompt.length, maxNewTokens, sink);
        TokenPicker picker = new TokenPicker(sampling);
        long start = System.nanoTime();
        try (KvCache cache = prefill(prompt, maxNewTokens)) {
            long decodeStart = System.nanoTime();
            int last = prompt[prompt.length - 1];
            if (picker.greedy()) {
                // greedy asks the backend for its picks only (no logits leave a GPU), which it may
                // compute a step ahead of the emitter
                try (GreedyRun run = target.greedyRun(last, cache, out.remaining())) {
                    do {
                        last = run.next();
                    } while (out.emit(last));
                }
            } else {
                do {
                    last = decodeOne(last, cache, picker);
                } while (out.emit(last));
            }
            long end = System.nanoTime();
            return new Generation(out.tokens(), out.finishReason(), decodeStart - start, end - decodeStart,
                    SpeculationStats.none());
        }
    }

    /** Absorbs every prompt token but the last, which the first decode step feeds. */
    private KvCache prefill(int[] prompt, int maxNewTokens) {
        KvCache cache = target.newCache(new KvCacheSpec.Full(
                KvCacheSpec.Full.capacityFor(target.config(), prompt.length, maxNewTokens, 1)));
        target.forward(Arrays.copyOf(prompt, prompt.length - 1), cache, 0);
        return cache;
    }

    /**
     * A sampled step draws from the row, on the model's device when it can (a proposal of no tokens:
     * the draw is the bonus token).
     */
    private int decodeOne(int token, KvCache cache, TokenPicker picker) {
        int[] block = {token};
        if (target instanceof DeviceRejection device) {
            return device.scoreAndVerify(block, cache, Proposal.NONE, picker, false).nextToken();
        }
        return picker.pick(target.forward(block, cache, 1)[0]);
    }
}
