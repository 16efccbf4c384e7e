// Rotary position embedding, Hugging Face rotate-half layout: element j of a head pairs with
// j + hd/2 and turns by pos·theta^(-2j/hd). cos/sin come from tables the host builds in double
// ([positions, hd/2]); sign = -1 applies the transpose (backward). Row i sits at position pos[i], or
// at pos0 + i when pos is null (contiguous positions: decode and prefill need no upload).
#include "common.cuh"

extern "C" __global__ void rope_apply(float* x, const int* pos, int pos0, const float* cosT, const float* sinT,
    int n, int heads, int hd, float sign) {
  int half = hd / 2;
  GRID_STRIDE(e, (long long)n * heads * half) {
    int j = (int)(e % half);
    long long rh = e / half;            // row·heads + head
    int i = (int)(rh / heads);
    long long o = rh * hd;              // head start in x
    int t = (pos ? pos[i] : pos0 + i) * half + j;  // table entry
    float cs = cosT[t], sn = sign * sinT[t];
    float a = x[o + j], b = x[o + j + half];
    x[o + j] = a * cs - b * sn;
    x[o + j + half] = b * cs + a * sn;
  }
}
