package io.prefstream.model.cuda;

import io.prefstream.model.backend.Buf;
import java.lang.ref.Cleaner;

/**
 * A float32 device buffer. A frozen weight also carries a bf16 copy ({@link #bf16}, derived by
 * {@code refreshWeight}) that the matrix products read; trainable weights have none and multiply in
 * float32. When the buffer becomes unreachable its device memory is handed back to the owner
 * thread, which frees it at its next call.
 */
final class CudaBuf implements Buf {
  private static final Cleaner CLEANER = Cleaner.create();

  final CudaDevice device;
  final long ptr;
  final long n;
  final int out;
  final int in;
  /** Device pointer of the bf16 copy of a frozen weight, else 0. */
  final long bf16;

  CudaBuf(CudaDevice device, long ptr, long n, int out, int in, long bf16) {
    this.device = device;
    this.ptr = ptr;
    this.n = n;
    this.out = out;
    this.in = in;
    this.bf16 = bf16;
    CLEANER.register(this, new Release(device, ptr, bf16));
  }

  boolean isWeight() {
    return out > 0;
  }

  /** Address of element i. */
  long at(long i) {
    return ptr + 4 * i;
  }

  @Override
  public long size() {
    return n;
  }

  @Override
  public String toString() {
    return "CudaBuf[" + n + (isWeight() ? ", weight " + out + "×" + in + (bf16 != 0 ? " bf16" : " fp32") : "") + "]";
  }

  private record Release(CudaDevice device, long ptr, long bf16) implements Runnable {
    @Override
    public void run() {
      device.released.add(ptr);
      if (bf16 != 0) device.released.add(bf16);
    }
  }
}
