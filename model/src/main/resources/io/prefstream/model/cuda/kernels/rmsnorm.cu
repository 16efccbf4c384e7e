// RMSNorm over rows of [n, c]: out = x·rstd·w, rstd = 1/sqrt(mean(x²) + eps), and its backward.
#include "common.cuh"

// one block per row
extern "C" __global__ void rmsnorm_forward(float* out, float* rstd, const float* x, const float* w,
    int n, int c, float eps) {
  __shared__ float sh[32];
  int i = blockIdx.x;
  if (i >= n) return;
  const float* xr = x + (long long)i * c;
  float ss = 0.0f;
  for (int j = threadIdx.x; j < c; j += blockDim.x) ss += xr[j] * xr[j];
  ss = block_sum(ss, sh);
  float r = 1.0f / sqrtf(ss / c + eps);
  if (threadIdx.x == 0) rstd[i] = r;
  float* o = out + (long long)i * c;
  for (int j = threadIdx.x; j < c; j += blockDim.x) o[j] = xr[j] * r * w[j];
}

// dx += rstd·(dOut·w − xhat·mean(dOut·w·xhat)), xhat = x·rstd; one block per row
extern "C" __global__ void rmsnorm_backward_dx(float* dx, const float* dOut, const float* x, const float* w,
    const float* rstd, int n, int c) {
  __shared__ float sh[32];
  int i = blockIdx.x;
  if (i >= n) return;
  long long o = (long long)i * c;
  float r = rstd[i];
  float dot = 0.0f;
  for (int j = threadIdx.x; j < c; j += blockDim.x) dot += dOut[o + j] * w[j] * (x[o + j] * r);
  float mean = block_sum(dot, sh) / c;
  for (int j = threadIdx.x; j < c; j += blockDim.x) {
    float xhat = x[o + j] * r;
    dx[o + j] += r * (dOut[o + j] * w[j] - xhat * mean);
  }
}

// partial[b, j] = Σ over rows of block b (rowsPerBlock rows) of dOut·xhat; grid = (⌈c/256⌉, blocks)
extern "C" __global__ void rmsnorm_backward_dw_partial(float* partial, const float* dOut, const float* x,
    const float* rstd, int n, int c, int rowsPerBlock) {
  int j = blockIdx.x * blockDim.x + threadIdx.x;
  int b = blockIdx.y;
  if (j >= c) return;
  int i0 = b * rowsPerBlock, i1 = min(n, i0 + rowsPerBlock);
  float acc = 0.0f;
  for (int i = i0; i < i1; i++) acc += dOut[(long long)i * c + j] * (x[(long long)i * c + j] * rstd[i]);
  partial[(long long)b * c + j] = acc;
}

// dw[j] += Σ_b partial[b, j], blocks in order
extern "C" __global__ void rmsnorm_backward_dw_reduce(float* dw, const float* partial, int blocks, int c) {
  int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= c) return;
  float acc = 0.0f;
  for (int b = 0; b < blocks; b++) acc += partial[(long long)b * c + j];
  dw[j] += acc;
}
