// Elementwise ops, the fp32 → bf16 cast (frozen weights' copies, GEMM operands) and row moves over float32 buffers (grid-stride loops, 256 threads).
#include "common.cuh"

extern "C" __global__ void scale_f32(float* x, long long n, float s) {
  GRID_STRIDE(i, n) x[i] *= s;
}

// dst[i] += src[i]
extern "C" __global__ void add_f32(float* dst, const float* src, long long n) {
  GRID_STRIDE(i, n) dst[i] += src[i];
}

extern "C" __global__ void cast_f32_bf16(bf16_t* dst, const float* src, long long n) {
  GRID_STRIDE(i, n) dst[i] = f32_to_bf16(src[i]);
}

// y[n, out] += b[out] broadcast over rows
extern "C" __global__ void add_bias(float* y, const float* b, int n, int out) {
  GRID_STRIDE(i, (long long)n * out) y[i] += b[i % out];
}

// db[out] += Σ_i dy[i, out]: one thread per column, rows summed in order (deterministic)
extern "C" __global__ void bias_backward(float* db, const float* dy, int n, int out) {
  int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= out) return;
  float acc = db[j];
  for (int i = 0; i < n; i++) acc += dy[(long long)i * out + j];
  db[j] = acc;
}

// dst[i, :] = src[rows[i], :] for i < m
extern "C" __global__ void gather_rows(float* dst, const float* src, const int* rows, int m, int c) {
  GRID_STRIDE(e, (long long)m * c) {
    long long i = e / c, j = e % c;
    dst[e] = src[(long long)rows[i] * c + j];
  }
}

// dst[rows[i], :] += src[i, :]; rows are distinct, so no two threads write one element
extern "C" __global__ void scatter_add_rows(float* dst, const float* src, const int* rows, int m, int c) {
  GRID_STRIDE(e, (long long)m * c) {
    long long i = e / c, j = e % c;
    dst[(long long)rows[i] * c + j] += src[e];
  }
}
