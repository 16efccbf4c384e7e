package io.prefstream.model.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.prefstream.model.llama.Ref;
import org.junit.jupiter.api.Test;

class RopeTest {
  /** The llama3 fixtures' RoPE: with head_dim 16 pair 0 is kept, pair 1 blended, pairs 2..7 divided. */
  private static final Rope SMALL_LLAMA3 = new Rope(500000, new RopeScaling.Llama3(32, 1, 4, 64));

  /** Llama 3.1 8B's published RoPE (head_dim 128). */
  private static final Rope LLAMA31_8B = new Rope(500000, new RopeScaling.Llama3(8, 1, 4, 8192));

  @Test
  void llama3FrequenciesMatchTheClampedBlendFormulation() {
    for (Rope rope : new Rope[] {SMALL_LLAMA3, LLAMA31_8B}) {
      int hd = rope == SMALL_LLAMA3 ? 16 : 128;
      double[] actual = rope.inverseFrequencies(hd), expected = Ref.inverseFrequencies(rope, hd);
      for (int j = 0; j < expected.length; j++) {
        assertThat(actual[j]).as("pair %d of %s", j, rope).isCloseTo(expected[j], within(1e-14 * expected[j]));
      }
    }
  }

  @Test
  void llama3KeepsHighFrequenciesDividesLowOnesAndBlendsBetween() {
    double[] scaled = SMALL_LLAMA3.inverseFrequencies(16), plain = Rope.unscaled(500000).inverseFrequencies(16);
    assertThat(scaled[0]).isEqualTo(plain[0]); // wavelength 2π < 64/4: kept
    assertThat(scaled[1]).isStrictlyBetween(plain[1] / 32, plain[1]); // wavelength ≈ 32.4 in [16, 64]: blended
    for (int j = 2; j < 8; j++) assertThat(scaled[j]).as("pair %d", j).isEqualTo(plain[j] / 32);
  }

  /** Values computed in float64 with numpy from transformers' torch.where formulation. */
  @Test
  void llama3FrequenciesMatchValuesComputedWithNumpy() {
    double[] small = SMALL_LLAMA3.inverseFrequencies(16);
    assertThat(small[1]).isCloseTo(0.0671330375110499, within(1e-15));
    assertThat(small[2]).isCloseTo(0.001175188466589498, within(1e-17));
    assertThat(small[7]).isCloseTo(3.2229329303788936e-07, within(1e-20));
    double[] big = LLAMA31_8B.inverseFrequencies(128);
    assertThat(big[20]).isCloseTo(0.016560440080994446, within(1e-16)); // kept
    assertThat(big[30]).isCloseTo(0.0013718935677611381, within(1e-17)); // blended
    assertThat(big[40]).isCloseTo(3.428102195952591e-05, within(1e-19)); // divided by 8
  }

  @Test
  void linearDividesEveryFrequencyByTheFactor() {
    double[] scaled = new Rope(10000, new RopeScaling.Linear(4)).inverseFrequencies(16);
    double[] plain = Rope.unscaled(10000).inverseFrequencies(16);
    for (int j = 0; j < 8; j++) assertThat(scaled[j]).isEqualTo(plain[j] / 4);
  }

  @Test
  void unscaledTableIsBitIdenticalToThePowFormula() {
    RopeTable t = RopeTable.build(Rope.unscaled(10000), 8, 300);
    assertThat(t.positions()).isEqualTo(300);
    assertThat(t.half()).isEqualTo(4);
    for (int p = 0; p < 300; p++) {
      for (int j = 0; j < 4; j++) {
        double angle = p * Math.pow(10000, -2.0 * j / 8);
        assertThat(t.cos()[p * 4 + j]).isEqualTo((float) Math.cos(angle));
        assertThat(t.sin()[p * 4 + j]).isEqualTo((float) Math.sin(angle));
      }
    }
  }

  @Test
  void scaledTableRotatesByTheScaledFrequencies() {
    RopeTable t = RopeTable.build(SMALL_LLAMA3, 16, 100);
    double[] f = SMALL_LLAMA3.inverseFrequencies(16);
    assertThat(t.cos()[90 * 8 + 2]).isEqualTo((float) Math.cos(90 * f[2]));
    assertThat(t.sin()[90 * 8 + 1]).isEqualTo((float) Math.sin(90 * f[1]));
  }

  @Test
  void refusesInconsistentScalingParameters() {
    assertThatThrownBy(() -> new RopeScaling.Llama3(8, 4, 4, 8192)).hasMessageContaining("high_freq_factor (4.0) must be greater");
    assertThatThrownBy(() -> new RopeScaling.Llama3(8, 1, 4, 0)).hasMessageContaining("original_max_position_embeddings");
    assertThatThrownBy(() -> new RopeScaling.Linear(0)).hasMessageContaining("factor must be a finite number > 0");
    assertThatThrownBy(() -> new Rope(0, RopeScaling.NONE)).hasMessageContaining("rope_theta must be > 0");
    assertThatThrownBy(() -> Rope.unscaled(1e4).inverseFrequencies(15)).hasMessageContaining("head_dim must be even");
  }
}
