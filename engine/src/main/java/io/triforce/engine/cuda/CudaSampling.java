package io.triforce.engine.cuda;

import io.triforce.engine.sampling.SamplingParams;
import io.triforce.engine.spec.ProbabilityRow;
import io.triforce.engine.spec.Proposal;
import io.triforce.engine.spec.TokenPicker;
import io.triforce.engine.spec.Verdict;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * Sampling and the rejection test on the GPU (sampling.cuh): the verifier's rows of logits stay
 * on the device, become distributions p there, and the proposal's q rows meet them there (copied
 * on the device when a level on this GPU kept them, else up from the host). What comes back is the
 * verdict (three ints); the rows of p the verdict keeps, when asked, stay on the device
 * ({@link KeptRows}).
 */
final class CudaSampling implements AutoCloseable {

    /** Most proposed tokens one verdict judges (rows of q); p has one row more. */
    static final int MAX_PROPOSAL = 63;
    private static final int THREADS = 1024;
    private static final int ARGS_BYTES = 800;   // SampleArgs
    /** sample_probs' shared memory: one bin's keys to sort (8192) and the weight histogram (2048 bins). */
    private static final int PROBS_SHARED = 8192 * 8 + 2048 * 12;

    private final CudaDevice dev;
    private final Object owner;          // the model: its monitor orders the device work
    private final int vocab;
    private final CUdeviceptr probs;     // fp32 [64][vocab] the verifier's p, row i after the i-th proposed token's prefix
    private final CUdeviceptr draft;     // fp32 [63][vocab] the proposal's q
    private final CUdeviceptr verdict;   // int [3] accepted, next token, bonus
    private final PinnedStaging hostDraft;   // fp32 [63][vocab]: rows of q from the host on their way up
    private KeptRows kept;               // the rows of p verdicts keep; allocated by the first that does

    CudaSampling(CudaDevice dev, Object owner, int vocab) {
        this.dev = dev;
        this.owner = owner;
        this.vocab = vocab;
        probs = dev.alloc(4L * (MAX_PROPOSAL + 1) * vocab);
        draft = dev.alloc(4L * MAX_PROPOSAL * vocab);
        verdict = dev.alloc(4 * 3);
        hostDraft = new PinnedStaging(dev, 4L * MAX_PROPOSAL * vocab, 1);
        dev.allowSharedMemory("sample_probs", PROBS_SHARED);
    }

    /**
     * The rejection test of {@code proposal} against the distributions of {@code logitRows}
     * [proposal.size() + 1][vocab] on the device, with uniforms from {@code picker}.
     */
    Verdict verify(CUdeviceptr logitRows, Proposal proposal, TokenPicker picker, boolean keepProbabilities) {
        int k = proposal.size();
        if (k > MAX_PROPOSAL) {
            throw new IllegalArgumentException(k + " proposed tokens: at most " + MAX_PROPOSAL + " on the GPU");
        }
        double[] uniforms = new double[k + 1];
        for (int i = 0; i <= k; i++) {
            uniforms[i] = picker.uniform();
        }
        byte[] args = args(picker.params(), proposal.tokens(), uniforms);
        if (k > 0) {
            gatherQ(proposal.probabilities());
        }
        dev.launch("sample_probs", k + 1, 1, 1, THREADS, PROBS_SHARED, logitRows, probs, args);
        dev.launch("reject_chain", 1, 1, 1, THREADS, 0, probs, draft, verdict, args);
        int[] out = new int[3];
        dev.toHost(Pointer.to(out), verdict, 4L * out.length);
        ProbabilityRow[] p = null;
        if (keepProbabilities) {   // rows 0..accepted stay on the device
            if (kept == null) {
                kept = new KeptRows(dev, owner, vocab);
            }
            p = kept.keep(probs, out[0] + 1);
        }
        return new Verdict(out[0], out[1], out[2] == 1, p);
    }

    /**
     * Queues q [k][vocab] into {@code draft}: rows a level kept on this device by copies on the device
     * (a run of rows in consecutive slots at a time), rows on the host through pinned memory.
     */
    private void gatherQ(ProbabilityRow[] q) {
        FloatBuffer staged = null;
        for (int i = 0; i < q.length; ) {
            CUdeviceptr dst = draft.withByteOffset(4L * i * vocab);
            if (q[i] instanceof KeptRows.Row row && row.on(dev)) {
                i += row.copyRun(q, i, q.length - i, dst);
                continue;
            }
            if (staged == null) {
                staged = hostDraft.take().asFloatBuffer();
            }
            int from = i;
            for (; i < q.length && !(q[i] instanceof KeptRows.Row row && row.on(dev)); i++) {
                staged.put(i * vocab, q[i].values());
            }
            hostDraft.upload(dst, 4L * from * vocab, 4L * (i - from) * vocab);
        }
    }
    /** SampleArgs (sampling.cuh). */
    private byte[] args(SamplingParams params, int[] tokens, double[] uniforms) {
        ByteBuffer a = ByteBuffer.allocate(ARGS_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        a.putDouble(params.topP()).putFloat((float) (1 / params.temperature())).putInt(params.topK())
                .putInt(tokens.length).putInt(vocab);
        for (int i = 0; i < 64; i++) {
            a.putInt(i < tokens.length ? tokens[i] : 0);
        }
        for (int i = 0; i < 65; i++) {
            a.putDouble(i < uniforms.length ? uniforms[i] : 0);
        }
        return a.array();
    }

    @Override
    public void close() {
        for (CUdeviceptr p : new CUdeviceptr[] {probs, draft, verdict}) {
            CudaDevice.free(p);
        }
        hostDraft.close();
        if (kept != null) {
            kept.close();
        }
    }
}
