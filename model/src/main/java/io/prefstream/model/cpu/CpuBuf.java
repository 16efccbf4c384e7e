package io.prefstream.model.cpu;

import io.prefstream.model.backend.Buf;

/**
 * A host float array behind the {@link Buf} handle. A weight also carries its transpose [in, out]
 * (as packed panels when its row count allows, see {@link Gemm#pack}) so the forward matmul x·Wᵀ
 * runs on the same vectorised kernel as the backward ones.
 */
final class CpuBuf implements Buf {
  final float[] a;
  final int out;
  final int in;
  final boolean packed;
  float[] t;

  CpuBuf(float[] a) {
    this(a, 0, 0);
  }

  CpuBuf(float[] a, int out, int in) {
    this.a = a;
    this.out = out;
    this.in = in;
    this.packed = out > 0 && Gemm.packable(out);
  }

  boolean isWeight() {
    return t != null;
  }

  @Override
  public long size() {
    return a.length;
  }
}
