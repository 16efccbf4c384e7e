// The output layer's log-softmax fused with the target gather, on one chunk of logit rows at a
// time (the chunk's logits come from a GEMM; probabilities are never stored for the batch).
#include "common.cuh"

// logp[r0 + i] = logits[i, targets[r0 + i]] − lse, lse[r0 + i] = logsumexp(logits[i]); one block per row
extern "C" __global__ void lsm_forward(float* logp, float* lse, const float* logits, const int* targets,
    int rows, int vocab, int r0) {
  __shared__ float sh[32];
  int i = blockIdx.x;
  if (i >= rows) return;
  const float* l = logits + (long long)i * vocab;
  float m = NEG_INF_F;
  for (int j = threadIdx.x; j < vocab; j += blockDim.x) m = fmaxf(m, l[j]);
  m = block_max(m, sh);
  float sum = 0.0f;
  for (int j = threadIdx.x; j < vocab; j += blockDim.x) sum += expf(l[j] - m);
  sum = block_sum(sum, sh);
  if (threadIdx.x == 0) {
    float rowLse = m + logf(sum);
    lse[r0 + i] = rowLse;
    logp[r0 + i] = l[targets[r0 + i]] - rowLse;
  }
}

// logits[i, :] ← g_i·(onehot(target) − softmax) in place: the gradient of the logits; one block per row.
// g carries the per-token mask (g = 0 for tokens outside the response).
extern "C" __global__ void lsm_backward(float* logits, const float* g, const float* lse, const int* targets,
    int rows, int vocab, int r0) {
  int i = blockIdx.x;
  if (i >= rows) return;
  float* l = logits + (long long)i * vocab;
  float gi = g[r0 + i], rowLse = lse[r0 + i];
  int tgt = targets[r0 + i];
  for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
    float d = expf(l[j] - rowLse) * -gi;
    l[j] = j == tgt ? d + gi : d;
  }
}

// sums[s] = Σ_{i in sequence s} logp[i]·mask[i] over rows start[s]..start[s]+len[s]-1; one block per sequence
extern "C" __global__ void masked_seq_sum(float* sums, const float* logp, const float* mask, const int* start,
    const int* len, int sequences) {
  __shared__ float sh[32];
  int s = blockIdx.x;
  if (s >= sequences) return;
  float acc = 0.0f;
  for (int i = threadIdx.x; i < len[s]; i += blockDim.x) acc += logp[start[s] + i] * mask[start[s] + i];
  acc = block_sum(acc, sh);
  if (threadIdx.x == 0) sums[s] = acc;
}
