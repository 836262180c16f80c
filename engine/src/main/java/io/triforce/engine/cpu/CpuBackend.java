package io.triforce.engine.cpu;

import io.triforce.engine.backend.Backend;
import io.triforce.engine.backend.Transformer;
import io.triforce.engine.model.LlamaWeights;

/** The plain CPU backend (Java Vector API, all cores): the oracle other backends are tested against. */
public final class CpuBackend implements Backend {

    private final Parallel parallel;

    public CpuBackend() {
        this(Parallel.shared());
    }

    public CpuBackend(Parallel parallel) {
        this.parallel = parallel;
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public Transformer load(LlamaWeights weights) {
        return new CpuTransformer(weights, parallel);
    }
}
