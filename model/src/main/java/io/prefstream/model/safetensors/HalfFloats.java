package io.prefstream.model.safetensors;

/**
 * Conversions between float32 and the two 16-bit float formats of model files. F16 is IEEE 754
 * binary16 (the JDK's {@link Float#float16ToFloat} handles subnormals, infinities and NaN); BF16 is
 * the upper half of a float32, rounded to nearest-even when narrowing.
 */
public final class HalfFloats {
  private HalfFloats() {}

  /** A bfloat16 bit pattern widened to float32: exact, since bf16 is a truncated float32. */
  public static float bf16ToFloat(short bits) {
    return Float.intBitsToFloat((bits & 0xFFFF) << 16);
  }

  /**
   * A float32 narrowed to bfloat16, rounding to nearest with ties to even, as PyTorch does. NaN stays
   * NaN (quiet, sign kept); values beyond bf16's range round to infinity.
   */
  public static short floatToBf16(float f) {
    int bits = Float.floatToRawIntBits(f);
    if (Float.isNaN(f)) {
      // Truncating could clear every mantissa bit and turn NaN into infinity, so force a quiet NaN.
      return (short) ((bits >>> 16) | 0x0040);
    }
    // Adding 0x7FFF plus the lowest kept bit rounds half-way cases towards the even neighbour.
    int rounding = 0x7FFF + ((bits >>> 16) & 1);
    return (short) ((bits + rounding) >>> 16);
  }

  /** An IEEE binary16 bit pattern widened to float32 (exact). */
  public static float f16ToFloat(short bits) {
    return Float.float16ToFloat(bits);
  }

  /** A float32 narrowed to IEEE binary16, rounding to nearest-even. */
  public static short floatToF16(float f) {
    return Float.floatToFloat16(f);
  }
}
