package io.triforce.engine.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.triforce.engine.cuda.CudaBackend;
import io.triforce.engine.testing.RandomCheckpoint;
import io.triforce.engine.testing.TestTokenizers;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --backend} (the target) and {@code --draft-backend}: a choice, a clear error, never a crash. */
class BackendOptionTest {

    private static final boolean GPU = CudaBackend.unavailableReason() == null;

    @TempDir
    Path tmp;

    private record Run(int exit, String out, String err) {
    }

    private static synchronized Run cli(String... args) {
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int exit = TriForceCli.run(args);
            return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    private Path model() {
        Path dir = tmp.resolve("model");
        RandomCheckpoint.builder().dim(64).heads(2).kvHeads(1).headDim(64).vocab(TestTokenizers.VOCAB_SIZE).writeTo(dir);
        return TestTokenizers.writeByteLevelBpe(dir);
    }

    private Path promptIds() throws Exception {
        return Files.writeString(tmp.resolve("ids.json"), "[5, 17, 33, 2, 90]");
    }

    @Test
    void logitsOnTheCpuEqualAuto() throws Exception {
        Path model = model();
        Path ids = promptIds();
        Run cpu = cli("logits", "--model", model.toString(), "--prompt-ids", ids.toString(), "--top", "3",
                "--backend", "cpu");
        assertEquals(0, cpu.exit(), cpu.err());
        JsonNode top = Json.MAPPER.readTree(cpu.out());
        assertEquals(3, top.at("/top").size(), cpu.out());
        if (!GPU) {
            Run auto = cli("logits", "--model", model.toString(), "--prompt-ids", ids.toString(), "--top", "3");
            assertEquals(cpu.out(), auto.out(), "without a GPU, auto is the CPU backend");
        }
    }

    @Test
    void anUnknownBackendIsOneErrorLine() throws Exception {
        Run run = cli("generate", "--model", model().toString(), "--prompt-ids", promptIds().toString(),
                "--max-new-tokens", "2", "--backend", "tpu");
        assertEquals(1, run.exit());
        assertEquals("error: unknown backend 'tpu' (use cpu, cuda or auto)", run.err().strip());
    }

    @Test
    void anUnknownDraftBackendIsOneErrorLine() throws Exception {
        Path model = model();
        Run run = cli("generate", "--model", model.toString(), "--prompt-ids", promptIds().toString(),
                "--max-new-tokens", "2", "--backend", "cpu", "--mode", "triforce", "--draft-model", model.toString(),
                "--draft-backend", "tpu");
        assertEquals(1, run.exit());
        // the tokenizer's library warns through SLF4J on first load (the triforce launcher filters that out)
        assertEquals("error: unknown --draft-backend 'tpu' (use same, cpu, cuda or auto)",
                run.err().lines().filter(line -> !line.startsWith("SLF4J")).collect(Collectors.joining("\n")));
    }

    @Test
    void theDraftOnTheCpuBesideTheTargetOnTheCpuGeneratesAsAutoregressive() throws Exception {
        Path model = model();
        Run ar = cli("generate", "--model", model.toString(), "--prompt-ids", promptIds().toString(),
                "--max-new-tokens", "6", "--backend", "cpu");
        Run triforce = cli("generate", "--model", model.toString(), "--prompt-ids", promptIds().toString(),
                "--max-new-tokens", "6", "--backend", "cpu", "--mode", "triforce", "--draft-model", model.toString(),
                "--draft-backend", "cpu");
        assertEquals(0, triforce.exit(), triforce.err());
        assertTrue(!ar.out().isBlank(), "AR printed its text");
        assertEquals(ar.out(), triforce.out(), "greedy TriForce prints what AR prints");
    }

    @Test
    void cudaWithoutAGpuSaysWhy() throws Exception {
        if (GPU) {
            return; // covered by the GPU tests
        }
        Run run = cli("generate", "--model", model().toString(), "--prompt-ids", promptIds().toString(),
                "--max-new-tokens", "2", "--backend", "cuda");
        assertEquals(1, run.exit());
        assertTrue(run.err().startsWith("error: backend 'cuda' is not usable on this machine"), run.err());
    }
}
