package io.prefstream.model.io;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.tokenizer.ByteLevelTokenizerFiles;

/**
 * The shapes {@code prefstream init-model --preset} creates: "tiny" (about 0.2 M parameters, for
 * tests and the demo) and "small" (about 5 M), both with tied embeddings and the byte-level
 * tokenizer's ids for BOS/EOS. The vocabulary size follows the tokenizer (259 for pure bytes, more
 * with learned merges).
 */
public final class ModelPresets {
  private ModelPresets() {}

  public static LlamaConfig tiny() {
    return tiny(ByteLevelTokenizerFiles.FIRST_MERGE_ID);
  }

  /** hidden 64, 4 layers, 4 heads (2 key/value), MLP 172, 512 positions. */
  public static LlamaConfig tiny(int vocabSize) {
    return new LlamaConfig(vocabSize, 64, 172, 4, 4, 2, 16, 512, 1e-5, 10000.0, true, false,
        ByteLevelTokenizerFiles.BOS_ID, ByteLevelTokenizerFiles.EOS_ID);
  }

  public static LlamaConfig small() {
    return small(ByteLevelTokenizerFiles.FIRST_MERGE_ID);
  }

  /** hidden 256, 6 layers, 8 heads (4 key/value), MLP 688, 1024 positions. */
  public static LlamaConfig small(int vocabSize) {
    return new LlamaConfig(vocabSize, 256, 688, 6, 8, 4, 32, 1024, 1e-5, 10000.0, true, false,
        ByteLevelTokenizerFiles.BOS_ID, ByteLevelTokenizerFiles.EOS_ID);
  }

  /** A preset by name ("tiny" or "small"). */
  public static LlamaConfig byName(String name, int vocabSize) {
    return switch (name) {
      case "tiny" -> tiny(vocabSize);
      case "small" -> small(vocabSize);
      default -> throw new IllegalArgumentException("unknown preset '" + name + "'; expected tiny or small");
    };
  }
}
