package io.prefstream.model.cuda;

import io.prefstream.model.backend.BatchedAttention;
import io.prefstream.model.backend.BatchedLora;
import io.prefstream.model.backend.Buf;
import io.prefstream.model.backend.OpChecks;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The serving engine's batched ops on the GPU, for {@link CudaBackend}: {@link BatchedAttention} as
 * one launch of {@code attn_append_decode_batch} over every row of every sequence, its per-sequence
 * cache pointers, lengths and row starts in one small table uploaded with one host-to-device copy;
 * {@link BatchedLora} as each adapter group's two products and scale run in place on its row slice
 * (device pointer offsets), so no rows are gathered or scattered. Arguments are checked on the
 * caller's thread by {@link OpChecks} (the CPU backend's rules); the work is queued to the owner
 * thread like every other op. Each sequence's attention is attn_decode's arithmetic (the kernels
 * share it; the CPU emulator test checks bit-identity), each group's delta the same cuBLAS calls on
 * the same shapes as one matmulForward, scale, matmulForward sequence on that group.
 * CudaBackendConformanceTest and CudaBackendContractTest check both against the CPU twin, float64
 * references and the single ops on a GPU.
 */
final class CudaBatchedOps {
  /** Largest grid y of a launch: attention runs one block row per query row. */
  private static final int MAX_ROWS = 65_535;
  /** Dynamic shared memory a block may take on Hopper and Ampere (227 KiB opt-in). */
  private static final int MAX_SHARED = 227 * 1024;

  private final CudaBackend be;
  private final CudaDevice dev;

  CudaBatchedOps(CudaBackend be, CudaDevice dev) {
    this.be = be;
    this.dev = dev;
  }

  void appendAttendBatch(Buf out, Buf q, Buf k, Buf v, Buf[] kCaches, Buf[] vCaches, int[] past, int[] capacity,
      int[] rowStart, int heads, int kvHeads, int headDim) {
    OpChecks.appendAttendBatch(out, q, k, v, kCaches, vCaches, past, capacity, rowStart, heads, kvHeads, headDim);
    int b = kCaches.length, rows = rowStart[b];
    if (rows > MAX_ROWS) throw new IllegalArgumentException("a batched attention step of " + rows + " rows exceeds " + MAX_ROWS);
    int maxKeys = 0;
    for (int s = 0; s < b; s++) maxKeys = Math.max(maxKeys, past[s] + rowStart[s + 1] - rowStart[s]);
    int shared = 4 * (headDim + maxKeys); // the query and one score per key, as attn_decode
    if (shared > MAX_SHARED) throw new IllegalArgumentException("batched attention over " + maxKeys + " positions exceeds shared memory");
    CudaBuf ob = be.cuda(out), qb = be.cuda(q), kb = be.cuda(k), vb = be.cuda(v);
    // The CudaBufs travel with the op, so no cache can be freed before it has run.
    CudaBuf[] kc = new CudaBuf[b], vc = new CudaBuf[b];
    for (int s = 0; s < b; s++) {
      kc[s] = be.cuda(kCaches[s]);
      vc[s] = be.cuda(vCaches[s]);
    }
    int[] pastCopy = past.clone(), startCopy = rowStart.clone(); // the caller may reuse its arrays
    float scale = (float) (1.0 / Math.sqrt(headDim));
    dev.post(() -> {
      if (rows == 0) return;
      long table = uploadTable(kc, vc, pastCopy, startCopy);
      long kPtrs = table, vPtrs = table + 8L * b, pastAt = table + 16L * b, startAt = pastAt + 4L * b;
      dev.launch("attn_append_decode_batch", heads, rows, 128, shared, ob.ptr, qb.ptr, kb.ptr, vb.ptr, kPtrs, vPtrs, pastAt,
          startAt, b, heads, kvHeads, headDim, scale);
    });
  }

  /**
   * One table in one copy: b key-cache pointers, b value-cache pointers (8 bytes each), then b
   * lengths and b + 1 row starts (4 bytes each); the scratch buffer is reused by the next step,
   * which the stream orders after this launch.
   */
  private long uploadTable(CudaBuf[] kc, CudaBuf[] vc, int[] past, int[] rowStart) {
    int b = kc.length;
    long bytes = 16L * b + 4L * (2L * b + 1);
    long table = be.scratch("batch_attention_table", bytes);
    try (Arena a = Arena.ofConfined()) {
      MemorySegment t = a.allocate(bytes, 8);
      for (int s = 0; s < b; s++) {
        t.setAtIndex(ValueLayout.JAVA_LONG, s, kc[s].ptr);
        t.setAtIndex(ValueLayout.JAVA_LONG, b + s, vc[s].ptr);
      }
      MemorySegment.copy(past, 0, t, ValueLayout.JAVA_INT, 16L * b, b);
      MemorySegment.copy(rowStart, 0, t, ValueLayout.JAVA_INT, 16L * b + 4L * b, b + 1);
      dev.htod(table, t, bytes);
    }
    return table;
  }

  void loraGroups(Buf y, Buf x, int[] groupStart, Buf[] a, Buf[] b, int[] rank, float[] scaling, int in, int out, Buf scratch) {
    int stride = OpChecks.loraGroups(y, x, groupStart, a, b, rank, scaling, in, out, scratch);
    int groups = a.length;
    CudaBuf yb = be.cuda(y), xb = be.cuda(x), su = be.cuda(scratch);
    CudaBuf[] wa = new CudaBuf[groups], wb = new CudaBuf[groups];
    for (int g = 0; g < groups; g++) {
      if (a[g] == null) continue;
      wa[g] = be.weightOf(a[g], rank[g], in);
      wb[g] = be.weightOf(b[g], out, rank[g]);
    }
    int[] start = groupStart.clone(), r = rank.clone();
    float[] sc = scaling.clone();
    dev.post(() -> {
      for (int g = 0; g < groups; g++) {
        int r0 = start[g], n = start[g + 1] - r0;
        if (wa[g] == null || n == 0) continue;
        long s = su.at((long) r0 * stride); // this group's [n, rank] block of the scratch, as on the CPU
        long elems = (long) n * r[g];
        be.linear(s, xb.at((long) r0 * in), wa[g], n, in, r[g], 0f);
        dev.launch("scale_f32", CudaBackend.grid(elems), 1, CudaBackend.THREADS, 0, s, elems, sc[g]);
        be.linear(yb.at((long) r0 * out), s, wb[g], n, r[g], out, 1f);
      }
    });
  }
}
