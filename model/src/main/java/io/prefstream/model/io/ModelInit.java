package io.prefstream.model.io;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.safetensors.DType;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.model.tokenizer.BpeMerge;
import io.prefstream.model.tokenizer.ByteLevelTokenizerFiles;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Random weights as transformers initialises a Llama: every linear and the embedding drawn from
 * normal(0, initializer_range = 0.02), RMSNorm weights 1, biases 0. Each tensor has its own stream
 * seeded from the seed and the tensor's name, so the result does not depend on iteration order.
 */
public final class ModelInit {
  public static final double INITIALIZER_RANGE = 0.02;

  private ModelInit() {}

  public static Map<String, NamedTensor> randomWeights(LlamaConfig config, long seed) {
    Map<String, NamedTensor> out = new LinkedHashMap<>();
    for (Map.Entry<String, int[]> e : LlamaWeights.expectedShapes(config).entrySet()) {
      String name = e.getKey();
      int n = 1;
      for (int d : e.getValue()) n *= d;
      float[] v = new float[n];
      if (name.endsWith("norm.weight")) {
        java.util.Arrays.fill(v, 1f);
      } else if (!name.endsWith(".bias")) {
        SplittableRandom r = new SplittableRandom(seed ^ nameHash(name));
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() * INITIALIZER_RANGE);
      }
      out.put(name, new NamedTensor(name, e.getValue(), v));
    }
    return out;
  }

  /**
   * Writes a complete random model directory (what {@code prefstream init-model} makes): weights from
   * {@link #randomWeights} for {@code config}, config.json, generation_config.json, and the byte-level
   * tokenizer with {@code merges}, whose vocabulary size must equal the config's.
   */
  public static void writeRandomModel(Path dir, LlamaConfig config, long seed, List<BpeMerge> merges, DType dtype)
      throws IOException {
    int tokVocab = ByteLevelTokenizerFiles.vocabSize(merges);
    if (tokVocab != config.vocabSize()) {
      throw new IllegalArgumentException("the tokenizer has " + tokVocab + " ids but the config's vocab_size is "
          + config.vocabSize() + "; build the preset with the tokenizer's size");
    }
    HfModelDir.write(dir, config, randomWeights(config, seed), dtype);
    ByteLevelTokenizerFiles.write(dir, merges, config.maxPositions());
  }

  /** 64-bit FNV-1a of the UTF-8 name. */
  static long nameHash(String name) {
    long h = 0xcbf29ce484222325L;
    for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
      h ^= b & 0xFF;
      h *= 0x100000001b3L;
    }
    return h;
  }
}
