package io.triforce.engine.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.cuda.CudaBackend;
import org.junit.jupiter.api.Test;

class BackendsTest {

    private static final boolean GPU = CudaBackend.unavailableReason() == null;

    @Test
    void cpuIsTheCpuBackend() {
        assertEquals("cpu", Backends.named("cpu").name());
    }

    @Test
    void autoPicksCudaExactlyWhenAGpuIsUsable() {
        assertEquals(GPU ? "cuda" : "cpu", Backends.named("auto").name());
    }

    @Test
    void cudaWithoutAGpuFailsAtOnceWithTheReason() {
        if (GPU) {
            assertEquals("cuda", Backends.named("cuda").name());
            return;
        }
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Backends.named("cuda"));
        assertTrue(e.getMessage().contains("not usable on this machine") && e.getMessage().contains("CUDA"),
                e.getMessage());
    }

    @Test
    void anUnknownNameListsTheChoices() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.named("tpu"));
        assertEquals("unknown backend 'tpu' (use cpu, cuda or auto)", e.getMessage());
    }
}
