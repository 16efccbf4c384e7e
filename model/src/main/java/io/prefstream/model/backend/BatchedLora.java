package io.prefstream.model.backend;

/**
 * A backend that applies the LoRA deltas of many adapter groups in one op (continuous batching over
 * several policies or versions; Punica/S-LoRA style): for each group g, on its rows
 * groupStart[g]..groupStart[g+1]-1, y += scaling[g]·(x·A[g]ᵀ)·B[g]ᵀ, where A[g] is a weight
 * [rank[g], in] and B[g] a weight [out, rank[g]] (both made by {@link Backend#weight}); a group whose
 * A is null has no adapter and is left alone. {@code scratch} holds rows × (largest rank) floats. Each
 * row gets exactly the arithmetic of {@code matmulForward(su, x, A)}, {@code scale(su, scaling)},
 * {@code matmulForward(y, su, B, accumulate)} on that group alone. Backends without it are driven one
 * group at a time.
 */
public interface BatchedLora {
  void loraGroups(Buf y, Buf x, int[] groupStart, Buf[] a, Buf[] b, int[] rank, float[] scaling, int in, int out, Buf scratch);
}
