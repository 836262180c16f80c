package io.triforce.engine.cuda;

import static io.triforce.engine.testing.ErrorMessages.assertMentions;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** The GPUs the kernels can load on: compute capability 9.0 and newer; older ones get a clear message. */
class ComputeCapabilityTest {

    @Test
    void hopperAndNewerAreSupported() {
        assertDoesNotThrow(() -> CudaDevice.requireSupported("NVIDIA H100 80GB HBM3", 9, 0));
        assertDoesNotThrow(() -> CudaDevice.requireSupported("NVIDIA B200", 10, 0));
    }

    @Test
    void anAmpereGpuIsToldWhatItLacks() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> CudaDevice.requireSupported("NVIDIA A100-SXM4-80GB", 8, 0));
        assertMentions(e, "compute capability 9.0 or newer", "NVIDIA A100-SXM4-80GB", "is 8.0");
    }
}
