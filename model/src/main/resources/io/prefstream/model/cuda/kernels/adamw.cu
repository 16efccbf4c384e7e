// AdamW on fp32 master weights with fp32 moments, and the sum of squares the global gradient norm
// is built from. The update uses round-to-nearest intrinsics so nothing is fused: the arithmetic is
// the learner's host AdamW operation for operation (bit-identical results).
#include "common.cuh"

// partial[blockIdx.x] = Σ x[i]² over this block's grid-stride share, in double. A fixed grid makes
// the host's final sum over partials deterministic.
extern "C" __global__ void sumsq_partial(double* partial, const float* x, long long n) {
  __shared__ double sh[32];
  double acc = 0.0;
  GRID_STRIDE(i, n) acc += (double)x[i] * (double)x[i];
  acc = block_sum_d(acc, sh);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

extern "C" __global__ void adamw_update(float* p, const float* g, float* m, float* v, long long n,
    float gradScale, float beta1, float oneMinusBeta1, float beta2, float oneMinusBeta2,
    float stepSize, float biasCorrection2Sqrt, float eps, float decay) {
  GRID_STRIDE(k, n) {
    float gk = __fmul_rn(g[k], gradScale);
    float mk = __fadd_rn(__fmul_rn(beta1, m[k]), __fmul_rn(oneMinusBeta1, gk));
    float vk = __fadd_rn(__fmul_rn(beta2, v[k]), __fmul_rn(__fmul_rn(oneMinusBeta2, gk), gk));
    m[k] = mk;
    v[k] = vk;
    float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vk), biasCorrection2Sqrt), eps);
    p[k] = __fsub_rn(__fmul_rn(p[k], decay), __fdiv_rn(__fmul_rn(stepSize, mk), denom));
  }
}
