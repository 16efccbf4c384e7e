// Generation: the KV cache (device layout [capacity, KV·hd] row-major for keys and values) and
// attention of a few new queries over it.
#include "common.cuh"

// rows past..past+n-1 of both caches = k/v[n, kd]
extern "C" __global__ void kv_append(float* kc, float* vc, const float* k, const float* v, int past, int n, int kd) {
  GRID_STRIDE(e, (long long)n * kd) {
    long long o = (long long)past * kd + e;
    kc[o] = k[e];
    vc[o] = v[e];
  }
}

// One query row of one head: oi[0..hd) = softmax(scale · qi·K[0..keys)ᵀ)·V over key/value rows j, read
// from the caches (kc/vc) for j < cached and from the new rows (kn/vn, row j − cached) after that;
// rows are kd floats apart in both and this head's kv part starts at kvOff. sm is dynamic shared
// memory of hd + keys floats (the query, then the scores), sh 32 floats. The one arithmetic of
// attn_decode and attn_append_decode_batch, so the batched op matches the single ones bit for bit.
__device__ __forceinline__ void attend_row(float* oi, const float* qi, const float* kc, const float* vc,
    const float* kn, const float* vn, int cached, int keys, int kd, int kvOff, int hd, float scale,
    float* sm, float* sh) {
  float* qs = sm;
  float* sc = sm + hd;
  int inCache = min(cached, keys);
  for (int d = threadIdx.x; d < hd; d += blockDim.x) qs[d] = qi[d];
  __syncthreads();
  float m = NEG_INF_F;
  for (int j = threadIdx.x; j < keys; j += blockDim.x) {
    const float* kr = (j < inCache ? kc + (long long)j * kd : kn + (long long)(j - inCache) * kd) + kvOff;
    float acc = 0.0f;
    for (int d = 0; d < hd; d++) acc += qs[d] * kr[d];
    acc *= scale;
    sc[j] = acc;
    m = fmaxf(m, acc);
  }
  m = block_max(m, sh);
  float sum = 0.0f;
  for (int j = threadIdx.x; j < keys; j += blockDim.x) {
    float e = expf(sc[j] - m);
    sc[j] = e;
    sum += e;
  }
  sum = block_sum(sum, sh);
  float inv = 1.0f / sum;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float acc = 0.0f;
    int j = 0;
    // the same order of terms as one loop over j: cached rows first, then the new ones
    for (; j < inCache; j++) acc += sc[j] * vc[(long long)j * kd + kvOff + d];
    for (; j < keys; j++) acc += sc[j] * vn[(long long)(j - inCache) * kd + kvOff + d];
    oi[d] = acc * inv;
  }
}

// out[i, h·hd ..] = softmax(scale · q_i·K[0..past+i]ᵀ)·V; grid = (heads, n), dynamic shared memory
// holds the query (hd floats) and the scores (past+n floats)
extern "C" __global__ void attn_decode(float* out, const float* q, const float* kc, const float* vc,
    int past, int n, int heads, int kvHeads, int hd, float scale) {
  extern __shared__ float sm[];
  __shared__ float sh[32];
  int h = blockIdx.x, i = blockIdx.y;
  int group = heads / kvHeads, kvh = h / group;
  int kd = kvHeads * hd, qd = heads * hd;
  int keys = past + i + 1;
  attend_row(out + (long long)i * qd + (long long)h * hd, q + (long long)i * qd + (long long)h * hd, kc, vc, kc, vc,
      keys, keys, kd, kvh * hd, hd, scale, sm, sh);
}

// kv_append and attn_decode for a batch of sequences in one launch. Sequence s owns rows
// rowStart[s]..rowStart[s+1]-1 of q[rows, heads·hd], k/v[rows, kd] and out, and its own caches
// kcs[s]/vcs[s] (device pointers, kv_append's layout) holding past[s] positions. Row r = rowStart[s]
// + i goes to position past[s] + i of its caches and attends over positions 0..past[s]+i (causal
// within a prefill chunk). Grid = (heads, rows). The caches' new rows are written by the block of
// each kv head's first query head, and no block reads them: keys and values of the new rows come
// from k/v (another block may not have written them yet). Dynamic shared memory: hd + the largest
// past[s] + rows of s floats.
extern "C" __global__ void attn_append_decode_batch(float* out, const float* q, const float* k, const float* v,
    float* const* kcs, float* const* vcs, const int* past, const int* rowStart, int b,
    int heads, int kvHeads, int hd, float scale) {
  extern __shared__ float sm[];
  __shared__ float sh[32];
  int h = blockIdx.x, r = blockIdx.y;
  // the sequence of row r: the last s with rowStart[s] <= r (empty sequences share a start)
  int lo = 0, hi = b - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) >> 1;
    if (rowStart[mid] <= r) lo = mid;
    else hi = mid - 1;
  }
  int s = lo, first = rowStart[s], i = r - first, cached = past[s];
  int group = heads / kvHeads, kvh = h / group;
  int kd = kvHeads * hd, qd = heads * hd, kvOff = kvh * hd;
  const float* kn = k + (long long)first * kd;
  const float* vn = v + (long long)first * kd;
  if (h % group == 0) {
    long long dst = (long long)(cached + i) * kd + kvOff, src = (long long)r * kd + kvOff;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
      kcs[s][dst + d] = k[src + d];
      vcs[s][dst + d] = v[src + d];
    }
  }
  attend_row(out + (long long)r * qd + (long long)h * hd, q + (long long)r * qd + (long long)h * hd, kcs[s], vcs[s],
      kn, vn, cached, cached + i + 1, kd, kvOff, hd, scale, sm, sh);
}
