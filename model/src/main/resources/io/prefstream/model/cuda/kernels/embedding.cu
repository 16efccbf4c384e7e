// Token embedding: gather rows of the table, and the scatter-add backward.
#include "common.cuh"

// out[i, :] = table[tokens[i], :]
extern "C" __global__ void embedding_forward(float* out, const float* table, const int* tokens, int n, int c) {
  GRID_STRIDE(e, (long long)n * c) {
    long long i = e / c, j = e % c;
    out[e] = table[(long long)tokens[i] * c + j];
  }
}

// dTable[uniq[u], j] += Σ dOut[order[k], j] for k in offs[u]..offs[u+1], in order. The host sorts
// the rows by token (stably), so each table row has one owner thread per column and sums the
// positions in token order: deterministic and equal to the CPU twin's order. grid = (nUniq, ⌈c/256⌉)
extern "C" __global__ void embedding_backward(float* dTable, const float* dOut, const int* order,
    const int* uniq, const int* offs, int nUniq, int c) {
  int j = blockIdx.y * blockDim.x + threadIdx.x;
  int u = blockIdx.x;
  if (j >= c || u >= nUniq) return;
  long long to = (long long)uniq[u] * c + j;
  float acc = dTable[to];
  for (int k = offs[u]; k < offs[u + 1]; k++) acc += dOut[(long long)order[k] * c + j];
  dTable[to] = acc;
}
