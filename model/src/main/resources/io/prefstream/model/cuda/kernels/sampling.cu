// Sampling one token from a row of logits on the device (batch 1 decode), so only the token id
// travels back: argmax when temperature ≤ 0, else softmax(logits / temperature) restricted to the
// top-k and the top-p nucleus, drawn with a counter-based generator (seed, step). Thresholds are
// found by bisection on the logit value, so no sort is needed. One block of 1024 threads.
#include "common.cuh"

__device__ __forceinline__ unsigned long long splitmix64(unsigned long long x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Σ over j of weight (z_j − m ≥ 0 kept when z_j ≥ thr): count (mode 0) or exp(z_j − m) (mode 1)
__device__ float kept_sum(const float* logits, int vocab, float invT, float m, float thr, int mode, float* sh) {
  float acc = 0.0f;
  for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
    float z = logits[j] * invT;
    if (z >= thr) acc += mode == 0 ? 1.0f : expf(z - m);
  }
  return block_sum(acc, sh);
}

extern "C" __global__ void sample_token(int* out, const float* logits, int vocab, float temperature, int topK,
    float topP, unsigned long long seed, unsigned long long step) {
  __shared__ float sh[32];
  __shared__ float vals[1024];
  __shared__ int idxs[1024];
  __shared__ float chunk[1024];
  int tid = threadIdx.x;
  if (temperature <= 0.0f) {
    float best = NEG_INF_F;
    int bi = 0x7fffffff;
    for (int j = tid; j < vocab; j += blockDim.x) {
      float v = logits[j];
      if (v > best || (v == best && j < bi)) { best = v; bi = j; }
    }
    vals[tid] = best;
    idxs[tid] = bi;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
      if (tid < s) {
        float v = vals[tid + s];
        int i = idxs[tid + s];
        if (v > vals[tid] || (v == vals[tid] && i < idxs[tid])) { vals[tid] = v; idxs[tid] = i; }
      }
      __syncthreads();
    }
    if (tid == 0) out[0] = idxs[0];
    return;
  }
  float invT = 1.0f / temperature;
  float m = NEG_INF_F, lo = __int_as_float(0x7f800000);
  for (int j = tid; j < vocab; j += blockDim.x) {
    float z = logits[j] * invT;
    m = fmaxf(m, z);
    lo = fminf(lo, z);
  }
  m = block_max(m, sh);
  lo = -block_max(-lo, sh);
  float thr = lo;
  if (topK > 0 && topK < vocab) {
    // largest threshold that keeps at least topK tokens
    float a = lo, b = m;
    for (int it = 0; it < 40; it++) {
      float mid = 0.5f * (a + b);
      if (kept_sum(logits, vocab, invT, m, mid, 0, sh) >= (float)topK) a = mid; else b = mid;
    }
    thr = a;
  }
  if (topP > 0.0f && topP < 1.0f) {
    float total = kept_sum(logits, vocab, invT, m, thr, 1, sh);
    float a = thr, b = m;
    for (int it = 0; it < 40; it++) {
      float mid = 0.5f * (a + b);
      if (kept_sum(logits, vocab, invT, m, mid, 1, sh) >= topP * total) a = mid; else b = mid;
    }
    thr = a;
  }
  // prefix over index order: each thread owns a contiguous range
  int per = (vocab + blockDim.x - 1) / blockDim.x;
  int j0 = tid * per, j1 = min(vocab, j0 + per);
  float acc = 0.0f;
  for (int j = j0; j < j1; j++) {
    float z = logits[j] * invT;
    if (z >= thr) acc += expf(z - m);
  }
  chunk[tid] = acc;
  __syncthreads();
  if (tid == 0) {
    float run = 0.0f;
    for (int t = 0; t < (int)blockDim.x; t++) { float c = chunk[t]; chunk[t] = run; run += c; }
    vals[0] = run;
  }
  __syncthreads();
  float mass = vals[0];
  unsigned long long r = splitmix64(seed ^ splitmix64(step));
  float u = (float)(r >> 40) * (1.0f / 16777216.0f) * mass;
  float start = chunk[tid];
  if (acc > 0.0f && u >= start && (u < start + acc || tid == blockDim.x - 1 || chunk[tid + 1] >= mass)) {
    float run = start;
    int pick = -1;
    for (int j = j0; j < j1; j++) {
      float z = logits[j] * invT;
      if (z < thr) continue;
      pick = j;
      run += expf(z - m);
      if (u < run) break;
    }
    out[0] = pick;
  }
}
