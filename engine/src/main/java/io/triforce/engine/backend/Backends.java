package io.triforce.engine.backend;

import io.triforce.engine.cpu.CpuBackend;
import io.triforce.engine.cuda.CudaBackend;
import java.util.List;

/** Backends by name, as users configure them: {@code cpu}, {@code cuda}, or {@code auto}. */
public final class Backends {

    /** The names {@link #named} takes. */
    public static final List<String> NAMES = List.of("cpu", "cuda", "auto");

    private Backends() {
    }

    /**
     * {@code auto} is CUDA where a GPU and driver are usable, else the CPU; {@code cuda} on a
     * machine without either fails here with the reason, not at the first forward pass.
     */
    public static Backend named(String name) {
        return switch (name) {
            case "cpu" -> new CpuBackend();
            case "cuda" -> {
                String why = CudaBackend.unavailableReason();
                if (why != null) {
                    throw new IllegalStateException("backend 'cuda' is not usable on this machine: " + why);
                }
                yield new CudaBackend();
            }
            case "auto" -> CudaBackend.unavailableReason() == null ? new CudaBackend() : new CpuBackend();
            default -> throw new IllegalArgumentException("unknown backend '" + name + "' (use cpu, cuda or auto)");
        };
    }
}
