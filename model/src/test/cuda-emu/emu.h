// Minimal CPU emulation of the CUDA constructs our kernels use: blocks run one after another, the
// threads of a block run as std::threads with a barrier for __syncthreads and per-warp barriers for
// shuffles. __shared__ becomes static (one block at a time). For correctness checks only.
#pragma once
#include <barrier>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>
#include <cstdint>
#include <algorithm>
struct emu_dim3 { unsigned x = 1, y = 1, z = 1; };
inline thread_local emu_dim3 threadIdx, blockIdx;
inline emu_dim3 blockDim, gridDim;
inline std::barrier<>* emu_block_bar = nullptr;
inline std::vector<std::barrier<>*> emu_warp_bars;
inline double emu_warp_buf[1024];
inline float emu_dyn_shared[65536];
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __syncthreads() emu_block_bar->arrive_and_wait()
using std::min; using std::max;
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline float __uint_as_float(unsigned i) { float f; std::memcpy(&f, &i, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned i; std::memcpy(&i, &f, 4); return i; }
inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
inline float __fsub_rn(float a, float b) { volatile float r = a - b; return r; }
inline float __fdiv_rn(float a, float b) { volatile float r = a / b; return r; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
template <typename T> inline T __shfl_xor_sync(unsigned, T v, int o) {
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  emu_warp_buf[threadIdx.x] = (double)v;
  emu_warp_bars[w]->arrive_and_wait();
  T r = (T)emu_warp_buf[(w << 5) | (lane ^ o)];
  emu_warp_bars[w]->arrive_and_wait();
  return r;
}
template <typename F, typename... A> void emu_launch(F f, unsigned gx, unsigned gy, unsigned bx, A... args) {
  gridDim = {gx, gy, 1};
  blockDim = {bx, 1, 1};
  for (unsigned by_ = 0; by_ < gy; by_++) for (unsigned bx_ = 0; bx_ < gx; bx_++) {
    std::barrier<> bar(bx);
    emu_block_bar = &bar;
    std::vector<std::barrier<>*> wb;
    for (unsigned w = 0; w < (bx + 31) / 32; w++) wb.push_back(new std::barrier<>(std::min(32u, bx - w * 32)));
    emu_warp_bars = wb;
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < bx; t++) ts.emplace_back([&, t] {
      threadIdx = {t, 0, 0};
      blockIdx = {bx_, by_, 0};
      f(args...);
      emu_warp_bars[t >> 5]->arrive_and_drop();
      bar.arrive_and_drop();
    });
    for (auto& t : ts) t.join();
    for (auto* b : wb) delete b;
  }
}
