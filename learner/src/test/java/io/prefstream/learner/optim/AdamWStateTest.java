package io.prefstream.learner.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Saving and restoring the optimiser: bit-exact round trips, a resumed run equal bit for bit to an
 * uninterrupted one, and corrupt or mismatched state refused without touching the optimiser.
 */
class AdamWStateTest {
  static final AdamWConfig CONFIG = new AdamWConfig(0.9, 0.999, 1e-8, 0.05, 1.0);
  static final LrSchedule SCHEDULE = new LrSchedule.WarmupCosine(3e-3, 3, 20, 1e-4);

  @TempDir
  Path dir;

  /** Parameters with fixed initial values; gradients are supplied per step by {@link #gradsFor}. */
  static List<Parameter> freshParams() {
    Random rnd = new Random(7);
    List<Parameter> list = new ArrayList<>();
    list.add(new Parameter("a.lora_A.weight", AdamWReferenceTest.randomFloats(rnd, 300), new float[300]));
    list.add(new Parameter("a.lora_B.weight", AdamWReferenceTest.randomFloats(rnd, 70_000), new float[70_000]));
    list.add(new Parameter("model.norm.weight", AdamWReferenceTest.randomFloats(rnd, 16), new float[16]));
    return list;
  }

  /** Deterministic gradients for step s: a pure function of the step and the current weights. */
  static void gradsFor(List<Parameter> params, int s) {
    Random rnd = new Random(1000 + s);
    for (Parameter p : params) {
      for (int k = 0; k < p.size(); k++) {
        p.grads()[k] = (float) (0.3 * p.values()[k] + rnd.nextGaussian());
      }
    }
  }

  static AdamW run(List<Parameter> params, AdamW adam, int from, int to) {
    for (int s = from; s < to; s++) {
      gradsFor(params, s);
      assertThat(adam.step().applied()).isTrue();
    }
    return adam;
  }

  @Test
  void stateRoundTripsBitExactly() throws IOException {
    List<Parameter> params = freshParams();
    AdamW adam = run(params, new AdamW(CONFIG, SCHEDULE, params), 0, 4);
    Path file = dir.resolve("optimizer.state");
    adam.saveState(file);

    AdamW restored = new AdamW(CONFIG, SCHEDULE, freshParams());
    restored.loadState(file);
    assertThat(restored.stepCount()).isEqualTo(4);
    for (Parameter p : params) {
      assertThat(bits(restored.firstMoment(p.name()))).isEqualTo(bits(adam.firstMoment(p.name())));
      assertThat(bits(restored.secondMoment(p.name()))).isEqualTo(bits(adam.secondMoment(p.name())));
    }
    ByteArrayOutputStream again = new ByteArrayOutputStream();
    restored.writeState(again);
    assertThat(again.toByteArray()).isEqualTo(Files.readAllBytes(file));
  }

  @Test
  void resumedRunEqualsUninterruptedRunBitForBit() throws IOException {
    List<Parameter> straight = freshParams();
    run(straight, new AdamW(CONFIG, SCHEDULE, straight), 0, 10);

    List<Parameter> first = freshParams();
    AdamW before = run(first, new AdamW(CONFIG, SCHEDULE, first), 0, 6);
    Path file = dir.resolve("mid.state");
    before.saveState(file);
    // A new process: weights come from the model checkpoint (copied here), moments from the file.
    List<Parameter> resumedParams = new ArrayList<>();
    for (Parameter p : first) {
      resumedParams.add(new Parameter(p.name(), p.values().clone(), new float[p.size()], p.decay()));
    }
    AdamW resumed = new AdamW(CONFIG, SCHEDULE, resumedParams);
    resumed.loadState(file);
    run(resumedParams, resumed, 6, 10);

    for (int i = 0; i < straight.size(); i++) {
      assertThat(bits(resumedParams.get(i).values())).as(straight.get(i).name())
          .isEqualTo(bits(straight.get(i).values()));
    }
  }

  @Test
  void corruptStateIsRefusedAndLeavesTheOptimiserUnchanged() throws IOException {
    List<Parameter> params = freshParams();
    AdamW adam = run(params, new AdamW(CONFIG, SCHEDULE, params), 0, 2);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    adam.writeState(out);
    byte[] good = out.toByteArray();

    List<Parameter> otherParams = freshParams();
    AdamW other = run(otherParams, new AdamW(CONFIG, SCHEDULE, otherParams), 0, 1);
    float[] mBefore = other.firstMoment("a.lora_B.weight");

    byte[] flipped = good.clone();
    flipped[good.length / 2] ^= 0x10;
    assertThatThrownBy(() -> other.readState(new ByteArrayInputStream(flipped)))
        .isInstanceOf(IOException.class).hasMessageContaining("checksum mismatch");
    byte[] truncated = java.util.Arrays.copyOf(good, good.length - 100);
    assertThatThrownBy(() -> other.readState(new ByteArrayInputStream(truncated)))
        .isInstanceOf(IOException.class).hasMessageContaining("truncated");
    byte[] notState = "hello, this is not optimiser state".getBytes();
    assertThatThrownBy(() -> other.readState(new ByteArrayInputStream(notState)))
        .isInstanceOf(IOException.class).hasMessageContaining("expected magic PSADAMW1");

    assertThat(other.stepCount()).isEqualTo(1);
    assertThat(bits(other.firstMoment("a.lora_B.weight"))).isEqualTo(bits(mBefore));
  }

  @Test
  void corruptStateFileIsRefusedBeforeAnythingIsLoaded() throws IOException {
    List<Parameter> params = freshParams();
    AdamW adam = run(params, new AdamW(CONFIG, SCHEDULE, params), 0, 3);
    Path file = dir.resolve("corrupt.state");
    adam.saveState(file);
    byte[] bytes = Files.readAllBytes(file);
    bytes[bytes.length - 20] ^= 0x01;
    Files.write(file, bytes);

    List<Parameter> otherParams = freshParams();
    AdamW other = run(otherParams, new AdamW(CONFIG, SCHEDULE, otherParams), 0, 1);
    float[] vBefore = other.secondMoment("model.norm.weight");
    assertThatThrownBy(() -> other.loadState(file)).isInstanceOf(IOException.class)
        .hasMessageContaining("checksum mismatch");
    assertThat(other.stepCount()).isEqualTo(1);
    assertThat(bits(other.secondMoment("model.norm.weight"))).isEqualTo(bits(vBefore));
  }

  @Test
  void stateOfDifferentParametersIsRefused() throws IOException {
    List<Parameter> params = freshParams();
    AdamW adam = run(params, new AdamW(CONFIG, SCHEDULE, params), 0, 1);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    adam.writeState(out);

    AdamW renamed = new AdamW(CONFIG, SCHEDULE, List.of(
        new Parameter("a.lora_A.weight", new float[300], new float[300]),
        new Parameter("b.lora_B.weight", new float[70_000], new float[70_000]),
        new Parameter("model.norm.weight", new float[16], new float[16])));
    assertThatThrownBy(() -> renamed.readState(new ByteArrayInputStream(out.toByteArray())))
        .hasMessageContaining("parameter 1 is 'a.lora_B.weight' with 70000 elements; expected "
            + "'b.lora_B.weight' with 70000");
    AdamW fewer = new AdamW(CONFIG, SCHEDULE, List.of(
        new Parameter("a.lora_A.weight", new float[300], new float[300])));
    assertThatThrownBy(() -> fewer.readState(new ByteArrayInputStream(out.toByteArray())))
        .hasMessageContaining("holds 3 parameters, expected 1");
  }

  static int[] bits(float[] a) {
    int[] b = new int[a.length];
    for (int i = 0; i < a.length; i++) {
      b[i] = Float.floatToRawIntBits(a[i]);
    }
    return b;
  }
}
