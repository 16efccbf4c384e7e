package io.prefstream.learner.trainer;

import io.prefstream.model.io.HfModel;
import io.prefstream.model.io.HfModelDir;
import io.prefstream.model.io.ModelInit;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.safetensors.DType;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** A random tiny model directory and a synthetic preference (vowel words beat consonant clusters). */
public final class TinyModels {
  private TinyModels() {}

  /** Writes the tiny preset with random weights and the byte-level tokenizer into {@code dir} and loads it. */
  public static HfModel tiny(Path dir, long seed) throws IOException {
    ModelInit.writeRandomModel(dir, ModelPresets.tiny(), seed, List.of(), DType.F32);
    return HfModelDir.load(dir);
  }

  static String word(SplittableRandom rnd, String alphabet) {
    int n = 3 + rnd.nextInt(4);
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < n; i++) sb.append(alphabet.charAt(rnd.nextInt(alphabet.length())));
    return sb.toString();
  }

  /** The hidden rule: a response of vowels is preferred to one of hard consonants. */
  public static TrainingBatch.Pair pair(SplittableRandom rnd) {
    String prompt = "Q" + rnd.nextInt(1000) + ":";
    return new TrainingBatch.Pair(prompt, " " + word(rnd, "aeiou"), " " + word(rnd, "xzqkv"), null);
  }

  public static List<TrainingBatch.Pair> pairs(SplittableRandom rnd, int n) {
    List<TrainingBatch.Pair> out = new ArrayList<>();
    for (int i = 0; i < n; i++) out.add(pair(rnd));
    return out;
  }

  /** Thumbs under the same rule: vowels up, consonants down, alternating. */
  public static List<TrainingBatch.Thumb> thumbs(SplittableRandom rnd, int n) {
    List<TrainingBatch.Thumb> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      boolean good = i % 2 == 0;
      out.add(new TrainingBatch.Thumb("Q" + rnd.nextInt(1000) + ":", " " + word(rnd, good ? "aeiou" : "xzqkv"), good,
          null));
    }
    return out;
  }
}
