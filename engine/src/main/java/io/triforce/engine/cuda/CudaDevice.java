package io.triforce.engine.cuda;

import static jcuda.driver.JCudaDriver.*;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import jcuda.CudaException;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JCudaDriver;

/**
 * GPU 0 through the JCuda driver API: its primary context, one stream, and the kernels of
 * {@code triforce.fatbin} (built from src/main/cuda by build.sh). Every driver call throws
 * {@link jcuda.CudaException} on failure. All work of the engine runs on {@link #stream}, in
 * order; the context is made current on the calling thread by {@link #use}.
 */
public final class CudaDevice {

    private static CudaDevice instance;
    private static String unavailable;
    private static final MethodHandle LAUNCH_EX;
    private static final MethodHandle MAX_ACTIVE_CLUSTERS;
    private static final Field NATIVE_POINTER;
    private static final Field BYTE_OFFSET;

    static {
        try {
            NATIVE_POINTER = NativePointerObject.class.getDeclaredField("nativePointer");
            NATIVE_POINTER.setAccessible(true);
            BYTE_OFFSET = Pointer.class.getDeclaredField("byteOffset");
            BYTE_OFFSET.setAccessible(true);
        } catch (NoSuchFieldException e) {
            throw new ExceptionInInitializerError(e);
        }
        MethodHandle launch = null;
        MethodHandle maxClusters = null;
        try {
            SymbolLookup driver = SymbolLookup.libraryLookup("libcuda.so.1", Arena.global());
            launch = Linker.nativeLinker().downcallHandle(driver.find("cuLaunchKernelEx").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS,
                            ValueLayout.ADDRESS, ValueLayout.ADDRESS));
            maxClusters = Linker.nativeLinker().downcallHandle(driver.find("cuOccupancyMaxActiveClusters")
                    .orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
                    ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        } catch (IllegalArgumentException | java.util.NoSuchElementException e) {
            // no CUDA driver here: get() fails later with JCuda's own message
        }
        LAUNCH_EX = launch;
        MAX_ACTIVE_CLUSTERS = maxClusters;
    }

    private final CUcontext context = new CUcontext();
    private final CUdevice device = new CUdevice();
    private final CUmodule module = new CUmodule();
    private final Map<String, CUfunction> functions = new HashMap<>();
    final CUstream stream = new CUstream();
    /** Programmatic dependent launch for kernels launched from now on (kernels support both). */
    boolean pdl = !"false".equals(System.getProperty("triforce.cuda.pdl"));
    final int multiprocessors;
    /** Shared memory a block may have with the kernel's consent (static and dynamic together). */
    final int sharedPerBlockOptin;
    /** Compute capability 9.0 (Hopper): the fatbin's sm_90a code runs here, wgmma kernels included. */
    final boolean hopper;
    /**
     * Whether the prefill and the steps of 32 or more query rows run their wgmma kernels
     * (Hopper); {@code -Dtriforce.cuda.wgmma=false}: their mma.sync forms.
     */
    final boolean wgmma;
    final String name;

    private CudaDevice() {
        JCudaDriver.setExceptionsEnabled(true);
        cuInit(0);
        cuDeviceGet(device, 0);
        cuDevicePrimaryCtxRetain(context, device);
        cuCtxSetCurrent(context);
        int[] v = new int[1];
        int[] minor = new int[1];
        cuDeviceGetAttribute(v, jcuda.driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
        cuDeviceGetAttribute(minor, jcuda.driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device);
        byte[] nameBytes = new byte[256];
        cuDeviceGetName(nameBytes, nameBytes.length, device);
        name = new String(nameBytes).trim();
        requireSupported(name, v[0], minor[0]);
        hopper = v[0] == 9 && minor[0] == 0;
        wgmma = hopper && !"false".equals(System.getProperty("triforce.cuda.wgmma"));
        byte[] fatbin = kernels();
        cuModuleLoadData(module, fatbin);
        cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING);
        cuDeviceGetAttribute(v, jcuda.driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device);
        multiprocessors = v[0];
        cuDeviceGetAttribute(v, jcuda.driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                device);
        sharedPerBlockOptin = v[0];
    }

    /**
     * The kernels are built for compute capability 9.0 (sm_90a code and compute_90 PTX, which newer GPUs
     * compile when they load it) and use its clusters and dependent launches: an older GPU gets this
     * message, not the driver's "no binary for GPU".
     */
    static void requireSupported(String name, int major, int minor) {
        if (major < 9) {
            throw new IllegalStateException("the CUDA backend needs compute capability 9.0 or newer (Hopper, e.g."
                    + " H100 / H200, or later); GPU 0 (" + name + ") is " + major + "." + minor);
        }
    }

    /** The GPU, opened on first use. Throws when no CUDA driver or GPU is present. */
    public static synchronized CudaDevice get() {
        if (instance == null) {
            instance = new CudaDevice();
        }
        instance.use();
        return instance;
    }

    /** Why no GPU can be used here, or null when one can. */
    public static synchronized String unavailableReason() {
        if (unavailable == null) {
            try {
                get();
                unavailable = "";
            } catch (Throwable e) {  // first failure: later ones only say the class could not initialise
                String message = String.valueOf(e.getMessage()).lines().findFirst().orElse("");
                unavailable = "no usable CUDA GPU (" + e.getClass().getSimpleName() + ": " + message + ")";
            }
        }
        return unavailable.isEmpty() ? null : unavailable;
    }

    /** Makes this device's context current on the calling thread. */
    void use() {
        cuCtxSetCurrent(context);
    }

    /** triforce.fatbin from the classpath, or the file named by -Dtriforce.cuda.fatbin (kernel experiments). */
    private static byte[] kernels() {
        String override = System.getProperty("triforce.cuda.fatbin");
        try (InputStream in = override != null ? Files.newInputStream(Path.of(override))
                : CudaDevice.class.getResourceAsStream("triforce.fatbin")) {
            if (in == null) {
                throw new IllegalStateException("resource triforce.fatbin is missing: run engine/src/main/cuda/build.sh");
            }
            byte[] bytes = in.readAllBytes();
            byte[] terminated = new byte[bytes.length + 1];  // cuModuleLoadData reads a C string for PTX
            System.arraycopy(bytes, 0, terminated, 0, bytes.length);
            return terminated;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    CUfunction function(String kernel) {
        return functions.computeIfAbsent(kernel, k -> {
            CUfunction f = new CUfunction();
            cuModuleGetFunction(f, module, k);
            return f;
        });
    }

    /** Allows {@code kernel} more than 48 KiB of dynamic shared memory. */
    void allowSharedMemory(String kernel, int bytes) {
        cuFuncSetAttribute(function(kernel), CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes);
    }

    /** The static shared memory of {@code kernel}'s blocks. */
    int staticShared(String kernel) {
        int[] v = new int[1];
        cuFuncGetAttribute(v, CUfunction_attribute.CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, function(kernel));
        return v[0];
    }

    /** Allows {@code kernel} clusters of up to 16 blocks (8 without this). */
    void allowLargeClusters(String kernel) {
        cuFuncSetAttribute(function(kernel), CUfunction_attribute.CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED,
                1);
    }

    /**
     * Launches {@code kernel} on the stream through {@code cuLaunchKernelEx} (reached with
     * java.lang.foreign: JCuda 12.6 lacks it), with programmatic dependent launch when
     * {@link #pdl} is on. Arguments: {@link CUdeviceptr} (null for none), Integer, Long, Float,
     * or byte[] (a struct passed by value).
     */
    void launch(String kernel, int gx, int gy, int gz, int block, int sharedBytes, Object... args) {
        launchClusters(kernel, 1, gx, gy, gz, block, sharedBytes, args);
    }

    /**
     * {@link #launch}, the blocks in thread-block clusters of {@code clusterX} along x (1: none;
     * more than 8 needs {@link #allowLargeClusters}).
     */
    void launchClusters(String kernel, int clusterX, int gx, int gy, int gz, int block, int sharedBytes,
                        Object... args) {
        launchEx(kernel, clusterX, false, gx, gy, gz, block, sharedBytes, args);
    }

    /**
     * {@link #launch} as a cooperative launch (every block resident at once, so they may wait for
     * each other), without programmatic dependent launch: the kernel starts once the work before it is done.
     */
    void launchCooperative(String kernel, int gx, int block, int sharedBytes, Object... args) {
        launchEx(kernel, 1, true, gx, 1, 1, block, sharedBytes, args);
    }

    private void launchEx(String kernel, int clusterX, boolean cooperative, int gx, int gy, int gz, int block,
                          int sharedBytes, Object... args) {
        CUevent start = null;
        CUevent end = null;
        if (profile != null) {
            start = new CUevent();
            end = new CUevent();
            cuEventCreate(start, 0);
            cuEventCreate(end, 0);
            cuEventRecord(start, stream);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment params = arena.allocate(ValueLayout.ADDRESS, Math.max(1, args.length));
            for (int i = 0; i < args.length; i++) {
                MemorySegment value = switch (args[i]) {
                    case null -> arena.allocateFrom(ValueLayout.JAVA_LONG, 0L);
                    case CUdeviceptr p -> arena.allocateFrom(ValueLayout.JAVA_LONG, address(p));
                    case Integer v -> arena.allocateFrom(ValueLayout.JAVA_INT, v);
                    case Long v -> arena.allocateFrom(ValueLayout.JAVA_LONG, v);
                    case Float v -> arena.allocateFrom(ValueLayout.JAVA_FLOAT, v);
                    case byte[] struct -> arena.allocate(struct.length, 16).copyFrom(MemorySegment.ofArray(struct));
                    default -> throw new IllegalArgumentException("kernel argument " + args[i]);
                };
                params.setAtIndex(ValueLayout.ADDRESS, i, value);
            }
            MemorySegment config = cooperative ? cooperativeConfig(arena, gx, block, sharedBytes)
                    : launchConfig(arena, clusterX, gx, gy, gz, block, sharedBytes);
            int rc = (int) LAUNCH_EX.invokeExact(config, MemorySegment.ofAddress(address(function(kernel))), params,
                    MemorySegment.NULL);
            if (rc != 0) {
                throw new CudaException("cuLaunchKernelEx(" + kernel + ") failed: " + CUresult.stringFor(rc));
            }
        } catch (CudaException | IllegalArgumentException e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
        if (profile != null) {
            cuEventRecord(end, stream);
            profile.add(new Timed(kernel + "[" + gx + "x" + gy + "x" + gz + "]", start, end));
        }
    }

    /** A CUlaunchConfig on the stream: programmatic dependent launch when {@link #pdl} is on, clusters of {@code clusterX}. */
    private MemorySegment launchConfig(Arena arena, int clusterX, int gx, int gy, int gz, int block, int sharedBytes) {
        MemorySegment attributes = arena.allocate(2 * 72, 8);  // CUlaunchAttribute [2]
        attributes.set(ValueLayout.JAVA_INT, 0, 6);         // CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION
        attributes.set(ValueLayout.JAVA_INT, 8, pdl ? 1 : 0);
        attributes.set(ValueLayout.JAVA_INT, 72, 4);        // CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION
        int[] cluster = {clusterX, 1, 1};
        for (int i = 0; i < cluster.length; i++) {
            attributes.set(ValueLayout.JAVA_INT, 80 + 4L * i, cluster[i]);
        }
        return config(arena, attributes, clusterX > 1 ? 2 : 1, gx, gy, gz, block, sharedBytes);
    }

    /** A CUlaunchConfig on the stream for a cooperative launch of {@code gx} blocks. */
    private MemorySegment cooperativeConfig(Arena arena, int gx, int block, int sharedBytes) {
        MemorySegment attributes = arena.allocate(72, 8);   // CUlaunchAttribute [1]
        attributes.set(ValueLayout.JAVA_INT, 0, 2);        // CU_LAUNCH_ATTRIBUTE_COOPERATIVE
        attributes.set(ValueLayout.JAVA_INT, 8, 1);
        return config(arena, attributes, 1, gx, 1, 1, block, sharedBytes);
    }

    private MemorySegment config(Arena arena, MemorySegment attributes, int attributeCount, int gx, int gy, int gz,
                                 int block, int sharedBytes) {
        MemorySegment config = arena.allocate(56, 8);      // CUlaunchConfig
        int[] dims = {gx, gy, gz, block, 1, 1, sharedBytes};
        for (int i = 0; i < dims.length; i++) {
            config.set(ValueLayout.JAVA_INT, 4L * i, dims[i]);
        }
        config.set(ValueLayout.JAVA_LONG, 32, address(stream));
        config.set(ValueLayout.ADDRESS, 40, attributes);
        config.set(ValueLayout.JAVA_INT, 48, attributeCount);
        return config;
    }

    /**
     * How many clusters of {@code clusterX} blocks of {@code kernel} (as {@link #launchClusters}
     * would launch them) the GPU can hold at once; 0: such a launch would fail.
     */
    int maxActiveClusters(String kernel, int clusterX, int block, int sharedBytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment count = arena.allocate(ValueLayout.JAVA_INT);
            MemorySegment config = launchConfig(arena, clusterX, clusterX, 1, 1, block, sharedBytes);
            int rc = (int) MAX_ACTIVE_CLUSTERS.invokeExact(count, MemorySegment.ofAddress(address(function(kernel))),
                    config);
            return rc == 0 ? count.get(ValueLayout.JAVA_INT, 0) : 0;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    /** The address a JCuda handle or pointer stands for. */
    static long address(NativePointerObject handle) {
        try {
            long base = (long) NATIVE_POINTER.get(handle);
            return handle instanceof Pointer ? base + (long) BYTE_OFFSET.get(handle) : base;
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    private record Timed(String label, CUevent start, CUevent end) {
    }

    private List<Timed> profile;
    private final AtomicLong syncsStarted = new AtomicLong();    // synchronize calls begun, numbered from 1
    private final AtomicLong syncsCovering = new AtomicLong();   // the highest number of one that has returned

    /** From now on, times every launch (uncaptured work only) until {@link #stopProfile}. */
    void startProfile() {
        profile = new ArrayList<>();
    }

    /** Milliseconds per launch label (kernel[grid]), summed, in launch order; stops profiling. */
    Map<String, Double> stopProfile() {
        synchronize();
        Map<String, Double> ms = new LinkedHashMap<>();
        float[] elapsed = new float[1];
        for (Timed t : profile) {
            cuEventElapsedTime(elapsed, t.start(), t.end());
            ms.merge(t.label(), (double) elapsed[0], Double::sum);
            cuEventDestroy(t.start());
            cuEventDestroy(t.end());
        }
        profile = null;
        return ms;
    }

    /** A grid-stride launch over {@code count} elements. */
    void launchFlat(String kernel, long count, Object... args) {
        int blocks = (int) Math.max(1, Math.min((count + 255) / 256, multiprocessors * 32L));
        launch(kernel, blocks, 1, 1, 256, 0, args);
    }

    /** Zeroed device memory (attention reads never-written cache slots: they must be finite). */
    CUdeviceptr alloc(long bytes) {
        CUdeviceptr p = new CUdeviceptr();
        cuMemAlloc(p, Math.max(bytes, 256));
        zero(p, Math.max(bytes, 256));
        synchronize();
        return p;
    }

    /** Zeroes {@code bytes} at {@code p}, in order with the stream's work (captured into graphs as a memset). */
    void zero(CUdeviceptr p, long bytes) {
        cuMemsetD8Async(p, (byte) 0, bytes, stream);
    }

    /** Copies host memory to the device, ordered with the stream's work; returns when done. */
    void toDevice(CUdeviceptr dst, Pointer src, long bytes) {
        upload(dst, src, bytes);
        synchronize();
    }

    /**
     * Queues a copy of host memory to the device, ordered with the stream's work, and returns at once:
     * {@code src} must stay unchanged until the stream has passed the copy, and be pinned for the copy
     * not to hold the host up ({@link PinnedStaging} sees to both; {@link #toDevice} waits instead).
     */
    void upload(CUdeviceptr dst, Pointer src, long bytes) {
        cuMemcpyHtoDAsync(dst, src, bytes, stream);
    }

    /** Queues a copy between two places on the device, ordered with the stream's work. */
    void copy(CUdeviceptr dst, CUdeviceptr src, long bytes) {
        cuMemcpyDtoDAsync(dst, src, bytes, stream);
    }

    /** Copies device memory to the host after the stream's work; returns when done. */
    void toHost(Pointer dst, CUdeviceptr src, long bytes) {
        cuMemcpyDtoHAsync(dst, src, bytes, stream);
        synchronize();
    }

    static void free(CUdeviceptr p) {
        if (p != null) {
            cuMemFree(p);
        }
    }

    /** Waits until the stream's work so far is done. */
    void synchronize() {
        long number = syncsStarted.incrementAndGet();
        cuStreamSynchronize(stream);
        syncsCovering.accumulateAndGet(number, Math::max);
    }

    /** A mark for the work queued so far, for {@link #finished}. */
    long mark() {
        return syncsStarted.get();
    }

    /** Whether a {@link #synchronize} begun after {@code mark} was taken has returned: that work is done. */
    boolean finished(long mark) {
        return syncsCovering.get() > mark;
    }

    /** Records everything {@code work} launches on the stream into an executable graph. */
    CUgraphExec capture(Runnable work) {
        CUgraph graph = new CUgraph();
        cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
        try {
            work.run();
        } finally {
            cuStreamEndCapture(stream, graph);
        }
        CUgraphExec exec = new CUgraphExec();
        cuGraphInstantiate(exec, graph, 0);
        cuGraphDestroy(graph);
        return exec;
    }

    void launch(CUgraphExec graph) {
        cuGraphLaunch(graph, stream);
    }

    /** Marks the stream's work so far with {@code event}. */
    void record(CUevent event) {
        cuEventRecord(event, stream);
    }

    /** Waits until the work {@code event} marks is done. */
    void waitFor(CUevent event) {
        cuEventSynchronize(event);
    }

    /**
     * What {@code work} takes on the stream, in ms: after 3 warm-up runs, the median over
     * {@code trials} of the mean time of {@code reps} back-to-back runs, timed with events.
     */
    double timeMs(Runnable work, int reps, int trials) {
        CUevent start = new CUevent();
        CUevent stop = new CUevent();
        cuEventCreate(start, 0);
        cuEventCreate(stop, 0);
        try {
            for (int i = 0; i < 3; i++) {
                work.run();
            }
            double[] ms = new double[trials];
            float[] elapsed = new float[1];
            for (int t = 0; t < trials; t++) {
                cuEventRecord(start, stream);
                for (int i = 0; i < reps; i++) {
                    work.run();
                }
                cuEventRecord(stop, stream);
                cuEventSynchronize(stop);
                cuEventElapsedTime(elapsed, start, stop);
                ms[t] = elapsed[0] / reps;
            }
            Arrays.sort(ms);
            return ms[trials / 2];
        } finally {
            cuEventDestroy(start);
            cuEventDestroy(stop);
        }
    }
}
