package io.prefstream.model.safetensors;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import java.util.function.IntToDoubleFunction;
import org.junit.jupiter.api.Test;

/**
 * Checks the 16-bit conversions against references computed here from the IEEE 754 definitions
 * (sign, biased exponent, mantissa), exhaustively over all 65536 patterns for widening and over every
 * half-way point between neighbours (the ties) plus random floats for narrowing.
 */
class HalfFloatsTest {

  /** Value of a 16-bit pattern with {@code expBits} exponent bits, by the definition; NaN for NaN. */
  static double decode(int bits, int expBits) {
    int manBits = 15 - expBits;
    int bias = (1 << (expBits - 1)) - 1;
    int sign = (bits >>> 15) & 1;
    int exp = (bits >>> manBits) & ((1 << expBits) - 1);
    int man = bits & ((1 << manBits) - 1);
    double v;
    if (exp == (1 << expBits) - 1) {
      v = man == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
    } else if (exp == 0) {
      v = man * Math.pow(2, 1 - bias - manBits);
    } else {
      v = (1 + man / Math.pow(2, manBits)) * Math.pow(2, exp - bias);
    }
    return sign == 1 ? -v : v;
  }

  /** Magnitude used for rounding: the infinity pattern counts as the next step past the largest finite. */
  static double gridValue(int p, int expBits) {
    int manBits = 15 - expBits;
    int bias = (1 << (expBits - 1)) - 1;
    int exp = p >>> manBits;
    int man = p & ((1 << manBits) - 1);
    if (exp == 0) return man * Math.pow(2, 1 - bias - manBits);
    return (1 + man / Math.pow(2, manBits)) * Math.pow(2, exp - bias);
  }

  /** Round-to-nearest-even onto the 16-bit grid, by binary search over the positive patterns. */
  static int referenceNarrow(float f, int expBits) {
    int manBits = 15 - expBits;
    int infPattern = ((1 << expBits) - 1) << manBits;
    int sign = Float.floatToRawIntBits(f) < 0 ? 0x8000 : 0;
    if (Float.isNaN(f)) return -1;
    double a = Math.abs((double) f);
    if (a >= gridValue(infPattern, expBits)) return sign | infPattern;
    int lo = 0;
    int hi = infPattern;
    while (hi - lo > 1) {
      int mid = (lo + hi) >>> 1;
      if (gridValue(mid, expBits) <= a) lo = mid;
      else hi = mid;
    }
    double dLo = a - gridValue(lo, expBits);
    double dHi = gridValue(lo + 1, expBits) - a;
    int p = dLo < dHi ? lo : dHi < dLo ? lo + 1 : ((lo & 1) == 0 ? lo : lo + 1);
    return sign | p;
  }

  @Test
  void widensEveryBf16PatternAsTheDefinitionSays() {
    for (int p = 0; p < 65536; p++) {
      assertWidened(p, HalfFloats.bf16ToFloat((short) p), decode(p, 8));
    }
  }

  @Test
  void widensEveryF16PatternIncludingSubnormalsInfinitiesAndNan() {
    for (int p = 0; p < 65536; p++) {
      assertWidened(p, HalfFloats.f16ToFloat((short) p), decode(p, 5));
    }
    assertThat(HalfFloats.f16ToFloat((short) 0x0001)).isEqualTo((float) Math.pow(2, -24));
    assertThat(HalfFloats.f16ToFloat((short) 0x7C00)).isEqualTo(Float.POSITIVE_INFINITY);
    assertThat(HalfFloats.f16ToFloat((short) 0x7BFF)).isEqualTo(65504f);
  }

  private static void assertWidened(int p, float got, double expected) {
    if (Double.isNaN(expected)) {
      assertThat(got).as("pattern %04x", p).isNaN();
    } else {
      assertThat((double) got).as("pattern %04x", p).isEqualTo(expected);
      assertThat(Float.floatToRawIntBits(got) < 0).as("sign of %04x", p).isEqualTo((p & 0x8000) != 0);
    }
  }

  @Test
  void narrowsTiesToEvenAndEverythingElseToNearestForBf16() {
    checkNarrowing(8, f -> HalfFloats.floatToBf16(f) & 0xFFFF);
  }

  @Test
  void narrowsTiesToEvenAndEverythingElseToNearestForF16() {
    checkNarrowing(5, f -> HalfFloats.floatToF16(f) & 0xFFFF);
  }

  interface Narrow {
    int apply(float f);
  }

  private static void checkNarrowing(int expBits, Narrow narrow) {
    int manBits = 15 - expBits;
    int infPattern = ((1 << expBits) - 1) << manBits;
    IntToDoubleFunction grid = p -> gridValue(p, expBits);
    // Every midpoint between neighbours (and a hair either side) is a float, so it can be checked exactly.
    for (int p = 0; p < infPattern; p++) {
      double mid = (grid.applyAsDouble(p) + grid.applyAsDouble(p + 1)) / 2;
      float tie = (float) mid;
      assertThat((double) tie).isEqualTo(mid);
      for (float f : new float[] {tie, Math.nextUp(tie), Math.nextDown(tie), -tie, (float) grid.applyAsDouble(p)}) {
        assertThat(narrow.apply(f)).as("narrowing %s (bits %08x)", f, Float.floatToRawIntBits(f))
            .isEqualTo(referenceNarrow(f, expBits));
      }
    }
    SplittableRandom rnd = new SplittableRandom(7);
    for (int i = 0; i < 200_000; i++) {
      float f = Float.intBitsToFloat(rnd.nextInt());
      if (Float.isNaN(f)) continue;
      assertThat(narrow.apply(f)).as("narrowing %s", f).isEqualTo(referenceNarrow(f, expBits));
    }
    for (float f : new float[] {0f, -0f, Float.MIN_VALUE, Float.MAX_VALUE, -Float.MAX_VALUE,
        Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
      assertThat(narrow.apply(f)).as("narrowing %s", f).isEqualTo(referenceNarrow(f, expBits));
    }
    int nan = narrow.apply(Float.NaN);
    assertThat((nan & 0x7FFF) > infPattern).as("NaN stays NaN: %04x", nan).isTrue();
    int nanWithLowPayload = narrow.apply(Float.intBitsToFloat(0x7F800001));
    assertThat((nanWithLowPayload & 0x7FFF) > infPattern).as("a NaN whose payload is in the dropped bits stays NaN")
        .isTrue();
  }
}
