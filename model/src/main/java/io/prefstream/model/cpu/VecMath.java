package io.prefstream.model.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * exp and a fixed-order lane sum built only from IEEE basic operations (fma, add, multiply, bit
 * moves), so the interpreter, C1 and C2 all give bit-identical results: the JDK's own vector
 * {@code EXP} and {@code reduceLanes(ADD)} may change their rounding when a loop gets compiled,
 * which would break run-to-run determinism. The scalar twins follow the same arithmetic.
 */
public final class VecMath {
  static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  static final int L = S.length();

  private static final float LOG2E = 1.44269504088896341f;
  private static final float LN2_HI = 0.693145751953125f;
  private static final float LN2_LO = 1.428606765330187e-06f;
  // 1.5·2^23: adding it rounds to the nearest integer, which then sits in the low mantissa bits.
  private static final float MAGIC = 12582912f;
  private static final int MAGIC_BITS = Float.floatToRawIntBits(MAGIC);
  private static final float LO = -87.0f;
  private static final float HI = 88.0f;
  private static final float C2 = 1f / 2, C3 = 1f / 6, C4 = 1f / 24, C5 = 1f / 120, C6 = 1f / 720, C7 = 1f / 5040;

  private VecMath() {}

  /**
   * dst[dOff+j] = e^(src[sOff+j]·scale − shift) for j &lt; n (when dst is not null) and returns the sum
   * of those n values in a fixed order (per lane over the vectors, the last one masked, then the lanes
   * left to right). Every lane does the arithmetic of {@link #exp(float)} on {@code x·scale − shift}.
   *
   * <p>All vector values live inside this one method on purpose: the Vector API is only fast where
   * C2 inlines the whole chain of vector operations, and a helper taking or returning a vector (a
   * {@code exp(FloatVector)}) that gets compiled on its own boxes every vector it passes. That
   * happened: with 200 bytes of bytecode such a helper was compiled alone after C1's profiling, C2
   * then refused to inline it, and the decode step's attention spent a third of its time in the
   * interpreter's vector fallbacks. An array in, an array out, and nothing else crosses the call.
   */
  public static float expAffine(float[] src, int sOff, float[] dst, int dOff, int n, float scale, float shift) {
    FloatVector acc = FloatVector.zero(S);
    for (int j = 0; j < n; j += L) {
      VectorMask<Float> m = S.indexInRange(j, n);
      FloatVector x = FloatVector.fromArray(S, src, sOff + j, m).mul(scale).sub(shift).max(LO).min(HI);
      FloatVector t = x.fma(LOG2E, MAGIC);
      FloatVector k = t.sub(MAGIC);
      FloatVector r = k.fma(FloatVector.broadcast(S, -LN2_HI), x);
      r = k.fma(FloatVector.broadcast(S, -LN2_LO), r);
      FloatVector p = r.fma(C7, C6);
      p = p.fma(r, FloatVector.broadcast(S, C5));
      p = p.fma(r, FloatVector.broadcast(S, C4));
      p = p.fma(r, FloatVector.broadcast(S, C3));
      p = p.fma(r, FloatVector.broadcast(S, C2));
      p = p.fma(r, FloatVector.broadcast(S, 1f));
      p = p.fma(r, FloatVector.broadcast(S, 1f));
      IntVector bits = ((IntVector) t.reinterpretAsInts()).sub(MAGIC_BITS).add(127).lanewise(VectorOperators.LSHL, 23);
      FloatVector e = p.mul(bits.reinterpretAsFloats());
      if (dst != null) e.intoArray(dst, dOff + j, m);
      acc = acc.add(e, m);
    }
    float sum = 0f;
    for (int i = 0; i < L; i++) sum += acc.lane(i);
    return sum;
  }

  /** e^x, relative error about 2 ulp, x clamped to [-87, 88]; each lane of {@link #expAffine} does these operations in this order. */
  public static float exp(float x) {
    x = Math.min(Math.max(x, LO), HI);
    float t = Math.fma(x, LOG2E, MAGIC);
    float n = t - MAGIC;
    float r = Math.fma(n, -LN2_HI, x);
    r = Math.fma(n, -LN2_LO, r);
    float p = Math.fma(r, C7, C6);
    p = Math.fma(p, r, C5);
    p = Math.fma(p, r, C4);
    p = Math.fma(p, r, C3);
    p = Math.fma(p, r, C2);
    p = Math.fma(p, r, 1f);
    p = Math.fma(p, r, 1f);
    int bits = ((Float.floatToRawIntBits(t) - MAGIC_BITS) + 127) << 23;
    return p * Float.intBitsToFloat(bits);
  }

  /** Sum of the lanes, added left to right. */
  public static float sumLanes(FloatVector v) {
    float s = 0f;
    for (int i = 0; i < L; i++) s += v.lane(i);
    return s;
  }
}
