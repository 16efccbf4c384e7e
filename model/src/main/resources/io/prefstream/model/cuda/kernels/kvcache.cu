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
  float* qs = sm;
  float* sc = sm + hd;
  const float* qi = q + (long long)i * qd + (long long)h * hd;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) qs[d] = qi[d];
  __syncthreads();
  float m = NEG_INF_F;
  for (int j = threadIdx.x; j < keys; j += blockDim.x) {
    const float* kr = kc + (long long)j * kd + (long long)kvh * hd;
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
  float* oi = out + (long long)i * qd + (long long)h * hd;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float acc = 0.0f;
    for (int j = 0; j < keys; j++) acc += sc[j] * vc[(long long)j * kd + (long long)kvh * hd + d];
    oi[d] = acc * inv;
  }
}
