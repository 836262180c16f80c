package io.triforce.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.testing.RequiresGpu;
import org.junit.jupiter.api.Test;

/**
 * The occupancy query behind the choice of the clustered GEMVs: clusters the GPU can hold are
 * counted (four times as many of 4 blocks as of 16 at least), a launch it could not make gives 0
 * rather than an error. (It does not apply the limit on a cluster's size: on the H100 it counts 6
 * clusters of 17 blocks, beyond the 16 the CUDA guide gives as the H100's largest non-portable
 * cluster; the backend keeps its clusters to 16 blocks itself.)
 * Skipped where no CUDA GPU is present.
 */
@RequiresGpu
class CudaClusterTest {

    @Test
    void reportsWhichClustersTheGpuCanHold() {
        CudaDevice dev = CudaDevice.get();
        dev.use();
        String kernel = "gemv_resid16c";
        dev.allowSharedMemory(kernel, 64 * 1024);
        dev.allowLargeClusters(kernel);
        int sixteen = dev.maxActiveClusters(kernel, 16, 256, 64 * 1024);
        int four = dev.maxActiveClusters(kernel, 4, 256, 64 * 1024);
        assertTrue(sixteen >= 1, "clusters of 16: " + sixteen);
        assertTrue(four >= 4 * sixteen, "clusters of 4 (" + four + ") against clusters of 16 (" + sixteen + ")");
        assertEquals(0, dev.maxActiveClusters(kernel, 16, 2048, 64 * 1024), "blocks of 2048 threads");
        System.out.printf("%s, 64 KiB of shared memory a block: %d clusters of 16 at once, %d of 4%n", kernel,
                sixteen, four);
    }
}
