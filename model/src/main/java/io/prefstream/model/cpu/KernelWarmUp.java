package io.prefstream.model.cpu;

import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gets the vector kernels compiled by C2 soon after the first {@link CpuBackend} is made, on one
 * low-priority daemon thread, once per JVM.
 *
 * <p>Vector API code is only fast once C2 has compiled it with its intrinsics; until then (in the
 * interpreter and in C1's code) every vector operation is a call that boxes its vectors, a hundred
 * times slower. The GEMM has several register tiles, and some run only for some row counts (the
 * 4-row tile takes 1-4 rows left over after the 8-row ones, the narrow kernel only LoRA A factors):
 * under real load such a tile can stay uncompiled for many seconds. Profiles of the serving bench
 * found 18% of an 8-adapter decode step in those fallbacks, minutes after start. Here each kernel
 * runs on small shapes until C2's thresholds are passed; results are thrown away. Off with
 * {@code -Dprefstream.cpu.warmup=false}.
 */
final class KernelWarmUp {
  private static final Logger log = LoggerFactory.getLogger(KernelWarmUp.class);
  private static final AtomicBoolean STARTED = new AtomicBoolean();
  /** Calls per shape: past C2's invocation threshold (5,000) with loops past its back-edge one. */
  private static final int ROUNDS = 6_000;

  private KernelWarmUp() {}

  static void start() {
    if (!Boolean.parseBoolean(System.getProperty("prefstream.cpu.warmup", "true")) || !STARTED.compareAndSet(false, true)) return;
    Thread t = Thread.ofPlatform().name("prefstream-cpu-warmup").daemon().priority(Thread.MIN_PRIORITY).unstarted(KernelWarmUp::run);
    t.start();
  }

  private static void run() {
    long t0 = System.nanoTime();
    try {
      int k = 32;
      // Packed panels (an output width of whole 3-vector panels) and a masked right edge.
      CpuBuf packed = weight(2 * Gemm.NR, k), edge = weight(Gemm.NR + 5, k), narrow = weight(8, k), narrowOdd = weight(5, k);
      float[] x = fill(new float[12 * k]), y = new float[12 * (2 * Gemm.NR + 5)], e = new float[3 * k];
      for (int i = 0; i < ROUNDS; i++) {
        // Row counts that take every tile: 8 (8x3), 9 and 12 (8 then the 4-row leftover tile),
        // 1 (1x3), 5 (an 8-row tile repeating its last row).
        for (int m : new int[] {1, 5, 8, 9, 12}) {
          Gemm.gemmWt(WorkerPool.INLINE, y, 0, packed.out, x, 0, k, 1, packed, m, false);
          Gemm.gemmWt(WorkerPool.INLINE, y, 0, edge.out, x, 0, k, 1, edge, m, true);
        }
        NarrowGemm.gemmWt(WorkerPool.INLINE, y, 0, narrow.out, x, 0, k, narrow, 3, false);
        NarrowGemm.gemmWt(WorkerPool.INLINE, y, 0, narrowOdd.out, x, 0, k, narrowOdd, 3, true);
        VecMath.expAffine(x, 0, e, 0, 2 * k + 3, 0.5f, 1f);
      }
      log.debug("CPU kernels warmed up in {} ms", (System.nanoTime() - t0) / 1_000_000);
    } catch (RuntimeException ex) {
      log.debug("CPU kernel warm-up stopped: {}", ex.toString());
    }
  }

  private static CpuBuf weight(int out, int in) {
    // Made as every weight is, with its derived layout (packed panels or plain transpose).
    return (CpuBuf) new CpuBackend(WorkerPool.INLINE).weight(fill(new float[out * in]), out, in);
  }

  private static float[] fill(float[] a) {
    for (int i = 0; i < a.length; i++) a[i] = ((i * 37) % 17 - 8) / 64f;
    return a;
  }
}
