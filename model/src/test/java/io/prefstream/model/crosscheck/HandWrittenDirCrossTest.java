package io.prefstream.model.crosscheck;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.io.HandWrittenModelDir;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.io.HfModelDir;
import io.prefstream.model.llama.KvCache;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.llama.SequenceLogProbs;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.model.tokenizer.ByteLevelTokenizerFiles;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Cross test of the whole load path: a model directory written by an independent implementation
 * ({@link HandWrittenModelDir}: its own config.json text, HF tensor names and safetensors bytes) is
 * loaded through {@link HfModelDir} and its tokenizer, and the logits the model computes are
 * compared with {@link Float64Llama}, a straightforward float64 forward of Hugging Face's Llama,
 * over the tensors the writer returned.
 */
class HandWrittenDirCrossTest {
  private static final String TEXT = "Where is my order? It ships today.";

  /** GQA Llama with an untied head and a non-default rope_theta. */
  private static final LlamaConfig LLAMA = new LlamaConfig(ByteLevelTokenizerFiles.FIRST_MERGE_ID, 32, 48, 2, 4, 2, 8, 64, 1e-6,
      500000.0, false, false, ByteLevelTokenizerFiles.BOS_ID, ByteLevelTokenizerFiles.EOS_ID);

  /** Qwen2-style: q/k/v biases, tied embeddings, multi-query attention, head_dim ≠ hidden/heads. */
  private static final LlamaConfig QWEN = new LlamaConfig(ByteLevelTokenizerFiles.FIRST_MERGE_ID, 24, 40, 3, 4, 1, 10, 64, 1e-5,
      10000.0, true, true, ByteLevelTokenizerFiles.BOS_ID, ByteLevelTokenizerFiles.EOS_ID);

  @TempDir Path dir;

  @Test
  void llamaF32DirectoryGivesTheReferenceLogits() throws Exception {
    Map<String, NamedTensor> written = HandWrittenModelDir.write(dir, LLAMA, 11, false);
    checkLogits(dir, LLAMA, written);
  }

  @Test
  void qwenStyleBf16DirectoryGivesTheReferenceLogits() throws Exception {
    Map<String, NamedTensor> written = HandWrittenModelDir.write(dir, QWEN, 12, true);
    checkLogits(dir, QWEN, written);
  }

  @Test
  void shardedDirectoryGivesTheReferenceLogits() throws Exception {
    Map<String, NamedTensor> written = HandWrittenModelDir.writeSharded(dir, LLAMA, 13);
    checkLogits(dir, LLAMA, written);
  }

  @Test
  void responseLogProbsAndCachedDecodingAgreeWithTheReference() throws Exception {
    Map<String, NamedTensor> written = HandWrittenModelDir.write(dir, LLAMA, 14, false);
    try (HfModel hf = HfModelDir.load(dir)) {
      LlamaModel model = LlamaModel.create(hf.config(), hf.weights(), new CpuBackend());
      int[] prompt = withBos(hf.tokenizer().encode("Where is my order?", false));
      int[] reply = hf.tokenizer().encode(" It ships today.", false);
      int[] all = concat(prompt, reply);
      double[][] ref = Float64Llama.logits(LLAMA, Float64Llama.unscaled(LLAMA), written, all);
      double expected = 0;
      for (int i = 0; i < reply.length; i++) expected += logSoftmax(ref[prompt.length - 1 + i])[reply[i]];
      SequenceLogProbs lp = model.logProbs(List.of(new PromptResponse(prompt, reply), new PromptResponse(all, new int[0])));
      assertThat(lp.sum(0)).isCloseTo(expected, org.assertj.core.api.Assertions.within(1e-3 * reply.length));
      assertThat(lp.sum(1)).isZero();

      KvCache cache = model.newKvCache(all.length);
      float[] last = model.forwardCached(cache, prompt);
      assertClose(last, ref[prompt.length - 1], "prefill");
      for (int i = 0; i < reply.length; i++) {
        last = model.forwardCached(cache, new int[] {reply[i]});
        assertClose(last, ref[prompt.length + i], "decode step " + i);
      }
    }
  }

  private void checkLogits(Path modelDir, LlamaConfig cfg, Map<String, NamedTensor> written) throws Exception {
    try (HfModel hf = HfModelDir.load(modelDir)) {
      assertThat(hf.config()).isEqualTo(cfg);
      int[] tokens = withBos(hf.tokenizer().encode(TEXT, false));
      // the byte-level tokenizer without merges maps each UTF-8 byte to its own id
      assertThat(Arrays.copyOfRange(tokens, 1, tokens.length)).containsExactly(
          new String(TEXT.getBytes(java.nio.charset.StandardCharsets.UTF_8), java.nio.charset.StandardCharsets.ISO_8859_1)
              .chars().toArray());
      LlamaModel model = LlamaModel.create(hf.config(), hf.weights(), new CpuBackend());
      float[] logits = model.logits(tokens);
      double[][] ref = Float64Llama.logits(cfg, Float64Llama.unscaled(cfg), written, tokens);
      int v = cfg.vocabSize();
      for (int t = 0; t < tokens.length; t++) {
        assertClose(Arrays.copyOfRange(logits, t * v, (t + 1) * v), ref[t], "position " + t);
      }
    }
  }

  private static void assertClose(float[] actual, double[] expected, String where) {
    double scale = 0;
    for (double e : expected) scale = Math.max(scale, Math.abs(e));
    for (int i = 0; i < expected.length; i++) {
      assertThat(Math.abs(actual[i] - expected[i])).as("%s, logit %d: %s vs %s", where, i, actual[i], expected[i])
          .isLessThanOrEqualTo(2e-4 * Math.max(1, scale));
    }
  }

  private static int[] withBos(int[] ids) {
    return concat(new int[] {ByteLevelTokenizerFiles.BOS_ID}, ids);
  }

  private static int[] concat(int[] a, int[] b) {
    int[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  private static double[] logSoftmax(double[] logits) {
    double max = Double.NEGATIVE_INFINITY;
    for (double l : logits) max = Math.max(max, l);
    double z = 0;
    for (double l : logits) z += Math.exp(l - max);
    double lse = max + Math.log(z);
    double[] out = new double[logits.length];
    for (int i = 0; i < logits.length; i++) out[i] = logits[i] - lse;
    return out;
  }
}
