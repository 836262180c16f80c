package io.triforce.engine.cpu;

import io.triforce.engine.model.LayerWeights;
import java.lang.foreign.Arena;

/** One decoder layer's matrices, packed for {@link MatMul} (shapes as in {@link LayerWeights}). */
record PackedLayer(PackedMatrix wq, PackedMatrix wk, PackedMatrix wv, PackedMatrix wo,
                   PackedMatrix wGate, PackedMatrix wUp, PackedMatrix wDown) {

    static PackedLayer pack(LayerWeights w, Arena arena) {
        return new PackedLayer(PackedMatrix.pack(w.wq(), arena), PackedMatrix.pack(w.wk(), arena),
                PackedMatrix.pack(w.wv(), arena), PackedMatrix.pack(w.wo(), arena),
                PackedMatrix.pack(w.wGate(), arena), PackedMatrix.pack(w.wUp(), arena),
                PackedMatrix.pack(w.wDown(), arena));
    }
}
