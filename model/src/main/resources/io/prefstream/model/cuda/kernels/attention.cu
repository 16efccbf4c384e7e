// Causal grouped-query attention over a packed batch, as permute → batched GEMM (cuBLAS) → causal
// softmax → batched GEMM → permute back. Sequences are padded to T rows in a [B, H, T, hd] layout;
// because query head h = kvHead·group + g, that layout is [B, KV, group·T, hd], so one batched GEMM
// per (sequence, kv head) serves the whole query group (GQA without copying K or V). Scores live
// in [B, H, T, T] (row r = (b·H + h)·T + t). Softmax in float32 with scale 1/sqrt(hd); lse is kept
// in the packed [n, H] layout for backward, which recomputes the probabilities from it.
#include "common.cuh"

// dst[b, h, t, :] = src[start[b] + t, h·hd ..] for t < len[b], zero for the padding
extern "C" __global__ void attn_pack(float* dst, const float* src, const int* start, const int* len,
    int B, int H, int T, int hd) {
  GRID_STRIDE(e, (long long)B * H * T * hd) {
    int d = (int)(e % hd);
    long long r = e / hd;
    int t = (int)(r % T);
    int h = (int)((r / T) % H);
    int b = (int)(r / ((long long)T * H));
    dst[e] = t < len[b] ? src[((long long)start[b] + t) * H * hd + (long long)h * hd + d] : 0.0f;
  }
}

// the inverse of attn_pack for the rows that exist
extern "C" __global__ void attn_unpack(float* dst, const float* src, const int* start, const int* len,
    int B, int H, int T, int hd) {
  GRID_STRIDE(e, (long long)B * H * T * hd) {
    int d = (int)(e % hd);
    long long r = e / hd;
    int t = (int)(r % T);
    int h = (int)((r / T) % H);
    int b = (int)(r / ((long long)T * H));
    if (t < len[b]) dst[((long long)start[b] + t) * H * hd + (long long)h * hd + d] = src[e];
  }
}

// scores → probabilities in place, causal within each sequence; one block per score row
extern "C" __global__ void attn_softmax_forward(float* s, float* lse, const int* start, const int* len,
    int B, int H, int T, float scale) {
  __shared__ float sh[32];
  long long r = blockIdx.x;
  int t = (int)(r % T);
  int h = (int)((r / T) % H);
  int b = (int)(r / ((long long)T * H));
  float* row = s + r * T;
  if (t >= len[b]) {
    for (int j = threadIdx.x; j < T; j += blockDim.x) row[j] = 0.0f;
    return;
  }
  int valid = t + 1;
  float m = NEG_INF_F;
  for (int j = threadIdx.x; j < valid; j += blockDim.x) m = fmaxf(m, row[j] * scale);
  m = block_max(m, sh);
  float sum = 0.0f;
  for (int j = threadIdx.x; j < valid; j += blockDim.x) sum += expf(row[j] * scale - m);
  sum = block_sum(sum, sh);
  float inv = 1.0f / sum;
  for (int j = threadIdx.x; j < T; j += blockDim.x) row[j] = j < valid ? expf(row[j] * scale - m) * inv : 0.0f;
  if (threadIdx.x == 0) lse[((long long)start[b] + t) * H + h] = m + logf(sum);
}

// Backward through the softmax: s holds recomputed raw scores and becomes P = exp(scale·s − lse);
// dp holds dO·Vᵀ and becomes dS = P·(dP − Σ_d dO·O)·scale (the gradient of the raw scores).
extern "C" __global__ void attn_softmax_backward(float* s, float* dp, const float* lse, const float* dOut,
    const float* out, const int* start, const int* len, int B, int H, int T, int hd, float scale) {
  __shared__ float sh[32];
  long long r = blockIdx.x;
  int t = (int)(r % T);
  int h = (int)((r / T) % H);
  int b = (int)(r / ((long long)T * H));
  float* srow = s + r * T;
  float* drow = dp + r * T;
  if (t >= len[b]) {
    for (int j = threadIdx.x; j < T; j += blockDim.x) { srow[j] = 0.0f; drow[j] = 0.0f; }
    return;
  }
  long long pr = ((long long)start[b] + t);
  long long o = pr * H * hd + (long long)h * hd;
  float dsum = 0.0f;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) dsum += dOut[o + d] * out[o + d];
  dsum = block_sum(dsum, sh);
  float rowLse = lse[pr * H + h];
  int valid = t + 1;
  for (int j = threadIdx.x; j < T; j += blockDim.x) {
    if (j < valid) {
      float p = expf(srow[j] * scale - rowLse);
      srow[j] = p;
      drow[j] = p * (drow[j] - dsum) * scale;
    } else {
      srow[j] = 0.0f;
      drow[j] = 0.0f;
    }
  }
}
