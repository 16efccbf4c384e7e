package io.prefstream.learner.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.prefstream.model.backend.Buf;
import io.prefstream.model.cpu.CpuBackend;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The device optimiser (moments on the backend, the backend's sumSquares/adamwUpdate ops) against the
 * host AdamW the CPU learner uses, on the CPU backend's twin ops: same weights, moments and state.
 */
class DeviceAdamWTest {
  private static final String[] NAMES = {"a.lora_A.weight", "b.lora_B.weight", "model.norm.weight"};
  private static final int[] SIZES = {37, 64, 5};
  private final CpuBackend be = new CpuBackend();

  @AfterEach
  void close() {
    be.close();
  }

  private record Pair(List<io.prefstream.model.train.Parameter> device, List<Parameter> host) {}

  private Pair parameters(long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    List<io.prefstream.model.train.Parameter> device = new ArrayList<>();
    List<Parameter> host = new ArrayList<>();
    for (int i = 0; i < NAMES.length; i++) {
      float[] v = new float[SIZES[i]];
      for (int k = 0; k < v.length; k++) v[k] = (float) r.nextGaussian();
      Buf value = be.alloc(v.length);
      be.upload(value, v);
      device.add(new io.prefstream.model.train.Parameter(NAMES[i], new int[] {v.length}, value, be.alloc(v.length), be, false));
      host.add(new Parameter(NAMES[i], v.clone(), new float[v.length]));
    }
    return new Pair(device, host);
  }

  private void setGradients(Pair p, SplittableRandom r, double size) {
    for (int i = 0; i < NAMES.length; i++) {
      float[] g = new float[SIZES[i]];
      for (int k = 0; k < g.length; k++) g[k] = (float) (size * r.nextGaussian());
      be.upload(p.device().get(i).grad(), g);
      System.arraycopy(g, 0, p.host().get(i).grads(), 0, g.length);
    }
  }

  private static AdamWConfig config() {
    return new AdamWConfig(0.9, 0.999, 1e-8, 0.01, 1.0);
  }

  @Test
  void matchesTheHostOptimiserBitForBitWithoutClippingAndCloselyWithIt() throws Exception {
    Pair p = parameters(1);
    LrSchedule lr = new LrSchedule.WarmupConstant(1e-2, 3);
    DeviceAdamW device = new DeviceAdamW(config(), lr, be, p.device());
    AdamW host = new AdamW(config(), lr, p.host());
    SplittableRandom r = new SplittableRandom(2);
    for (int step = 0; step < 6; step++) {
      setGradients(p, r, step < 3 ? 0.01 : 1.0); // first unclipped (norm < 1), then clipped
      StepResult d = device.step();
      StepResult h = host.step();
      assertThat(d.applied()).isTrue();
      assertThat(d.gradNorm()).isCloseTo(h.gradNorm(), within(1e-9 * h.gradNorm()));
      for (int i = 0; i < NAMES.length; i++) {
        float[] dv = p.device().get(i).values();
        if (step < 3) {
          assertThat(dv).as("%s after unclipped step %d", NAMES[i], step).containsExactly(p.host().get(i).values());
          assertThat(device.firstMoment(NAMES[i])).containsExactly(host.firstMoment(NAMES[i]));
        } else {
          for (int k = 0; k < dv.length; k++) {
            assertThat(dv[k]).isCloseTo(p.host().get(i).values()[k], within(1e-5f));
          }
        }
      }
    }
    assertThat(device.stepCount()).isEqualTo(6);
  }

  @Test
  void skipsANonFiniteGradientWithoutTouchingAnything() {
    Pair p = parameters(3);
    DeviceAdamW device = new DeviceAdamW(config(), new LrSchedule.WarmupConstant(1e-2, 0), be, p.device());
    setGradients(p, new SplittableRandom(4), 0.1);
    float[] before = p.device().get(1).values();
    float[] g = p.device().get(1).grads();
    g[3] = Float.NaN;
    be.upload(p.device().get(1).grad(), g);
    StepResult r = device.step();
    assertThat(r.applied()).isFalse();
    assertThat(device.stepCount()).isZero();
    assertThat(p.device().get(1).values()).containsExactly(before);
    assertThat(device.firstMoment(NAMES[1])).containsOnly(0f);
  }

  @Test
  void stateIsTheHostFormatBothWays() throws Exception {
    Pair p = parameters(5);
    LrSchedule lr = new LrSchedule.WarmupConstant(1e-2, 0);
    DeviceAdamW device = new DeviceAdamW(config(), lr, be, p.device());
    AdamW host = new AdamW(config(), lr, p.host());
    SplittableRandom r = new SplittableRandom(6);
    for (int s = 0; s < 3; s++) {
      setGradients(p, r, 0.01);
      device.step();
      host.step();
    }
    ByteArrayOutputStream fromDevice = new ByteArrayOutputStream();
    ByteArrayOutputStream fromHost = new ByteArrayOutputStream();
    device.writeState(fromDevice);
    host.writeState(fromHost);
    assertThat(fromDevice.toByteArray()).isEqualTo(fromHost.toByteArray());
    DeviceAdamW restored = new DeviceAdamW(config(), lr, be, parameters(5).device());
    restored.readState(new ByteArrayInputStream(fromHost.toByteArray()));
    assertThat(restored.stepCount()).isEqualTo(3);
    for (String n : NAMES) assertThat(restored.firstMoment(n)).containsExactly(host.firstMoment(n));
  }
}
