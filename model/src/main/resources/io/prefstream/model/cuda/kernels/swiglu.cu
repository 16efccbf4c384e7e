// SwiGLU gate: h = silu(g)·u, silu(g) = g·σ(g), and its backward.
#include "common.cuh"

extern "C" __global__ void swiglu_forward(float* h, const float* g, const float* u, long long n) {
  GRID_STRIDE(i, n) {
    float gi = g[i];
    float sig = 1.0f / (expf(-gi) + 1.0f);
    h[i] = gi * sig * u[i];
  }
}

// dg = dh·u·σ(g)·(1 + g·(1 − σ(g))), du = dh·silu(g)
extern "C" __global__ void swiglu_backward(float* dg, float* du, const float* dh, const float* g,
    const float* u, long long n) {
  GRID_STRIDE(i, n) {
    float gi = g[i];
    float sig = 1.0f / (expf(-gi) + 1.0f);
    du[i] = dh[i] * (gi * sig);
    dg[i] = dh[i] * u[i] * (sig * (1.0f + gi * (1.0f - sig)));
  }
}
