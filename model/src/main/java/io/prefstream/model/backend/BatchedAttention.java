package io.prefstream.model.backend;

/**
 * A backend that can run {@link Backend#kvAppend} and {@link Backend#attentionCached} for many
 * sequences in one op (continuous batching; one parallel launch instead of two per sequence and
 * layer). Sequence s owns rows rowStart[s]..rowStart[s+1]-1 of the stacked q[rows, heads·hd],
 * k/v[rows, kvHeads·hd] and out, and its own cache (kCaches[s], vCaches[s]; past[s] positions already
 * filled, capacity[s]). Each sequence gets exactly the arithmetic of the two single ops. Backends
 * without it are driven one sequence at a time.
 */
public interface BatchedAttention {
  void appendAttendBatch(Buf out, Buf q, Buf k, Buf v, Buf[] kCaches, Buf[] vCaches, int[] past, int[] capacity,
      int[] rowStart, int heads, int kvHeads, int headDim);
}
