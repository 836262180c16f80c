package io.triforce.engine.cuda;

import io.triforce.engine.backend.Backend;
import io.triforce.engine.model.LlamaWeights;

/**
 * The GPU backend: JCuda driver API and the kernels of src/main/cuda (triforce.cu and the files it
 * includes). Weights are uploaded once as bf16; KV caches live on the device as bf16.
 */
public final class CudaBackend implements Backend {

    @Override
    public String name() {
        return "cuda";
    }

    /** Why this machine cannot run the backend (no driver, no GPU), or null when it can. */
    public static String unavailableReason() {
        return CudaDevice.unavailableReason();
    }

    @Override
    public CudaTransformer load(LlamaWeights weights) {
        CudaDevice dev = CudaDevice.get();
        return new CudaTransformer(dev, DeviceModel.upload(dev, weights));
    }
}
