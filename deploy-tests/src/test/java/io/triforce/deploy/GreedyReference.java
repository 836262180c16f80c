package io.triforce.deploy;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.cpu.CpuBackend;
import io.triforce.engine.generate.AutoregressiveDecoder;
import io.triforce.engine.generate.TokenSink;
import io.triforce.engine.model.CheckpointLoader;
import io.triforce.engine.model.LlamaCheckpoint;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.engine.tokenizer.Tokenizer;
import java.nio.file.Path;

/** The in-process engine's greedy continuation: plain autoregressive decoding of the target. */
final class GreedyReference implements AutoCloseable {
  private final LlamaCheckpoint checkpoint;
  private final Transformer target;
  private final Tokenizer tokenizer;

  GreedyReference(Path targetDir) {
    checkpoint = CheckpointLoader.load(targetDir);
    target = new CpuBackend().load(checkpoint.weights());
    tokenizer = Tokenizer.load(checkpoint.tokenizerJson());
  }

  /** The text of the first maxTokens greedy tokens after prompt (fewer if EOS comes first). */
  String continuation(String prompt, int maxTokens) {
    int[] tokens = new AutoregressiveDecoder(target)
        .generate(tokenizer.encode(prompt), maxTokens, SamplingParams.GREEDY, TokenSink.IGNORE)
        .tokens();
    return tokenizer.decode(tokens);
  }

  @Override
  public void close() throws Exception {
    tokenizer.close();
    checkpoint.close();
  }
}
