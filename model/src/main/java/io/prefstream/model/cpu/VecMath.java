package io.prefstream.model.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
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

  /** e^x per lane, relative error about 2 ulp, inputs clamped to [-87, 88]. */
  public static FloatVector exp(FloatVector x) {
    x = x.max(LO).min(HI);
    FloatVector t = x.fma(LOG2E, MAGIC);
    FloatVector n = t.sub(MAGIC);
    FloatVector r = n.fma(FloatVector.broadcast(S, -LN2_HI), x);
    r = n.fma(FloatVector.broadcast(S, -LN2_LO), r);
    FloatVector p = r.fma(C7, C6);
    p = p.fma(r, FloatVector.broadcast(S, C5));
    p = p.fma(r, FloatVector.broadcast(S, C4));
    p = p.fma(r, FloatVector.broadcast(S, C3));
    p = p.fma(r, FloatVector.broadcast(S, C2));
    p = p.fma(r, FloatVector.broadcast(S, 1f));
    p = p.fma(r, FloatVector.broadcast(S, 1f));
    IntVector bits = ((IntVector) t.reinterpretAsInts()).sub(MAGIC_BITS).add(127).lanewise(VectorOperators.LSHL, 23);
    return p.mul(bits.reinterpretAsFloats());
  }

  /** Scalar twin of {@link #exp(FloatVector)}: the same operations in the same order. */
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
