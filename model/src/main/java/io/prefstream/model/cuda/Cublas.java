package io.prefstream.model.cuda;

import static io.prefstream.model.cuda.Sig.I32;
import static io.prefstream.model.cuda.Sig.I64;
import static io.prefstream.model.cuda.Sig.PTR;

import io.prefstream.model.backend.BackendFailure;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.List;

/**
 * cuBLAS, bound from {@code libcublas.so.13}: one handle on the owner thread with a 32 MiB
 * workspace, and row-major wrappers over the column-major GEMMs (a row-major C = op(A)·op(B) is
 * computed as Cᵀ = op(B)ᵀ·op(A)ᵀ by swapping the operands and m/n; the transpose flags carry over).
 * alpha and beta are host floats (the default pointer mode).
 */
final class Cublas {
  static final int CUDA_R_32F = 0;
  static final int CUDA_R_16BF = 14;
  static final int CUBLAS_COMPUTE_32F = 68;
  static final int CUBLAS_GEMM_DEFAULT = -1;
  static final int CUBLAS_OP_N = 0;
  static final int CUBLAS_OP_T = 1;
  static final long WORKSPACE_BYTES = 32L << 20;

  static final List<Sig> SIGNATURES = Sig.list(
      Sig.of("cublasCreate_v2", I32, PTR),
      Sig.of("cublasDestroy_v2", I32, I64),
      Sig.of("cublasSetStream_v2", I32, I64, I64),
      Sig.of("cublasSetWorkspace_v2", I32, I64, I64, I64),
      Sig.of("cublasGetStatusName", PTR, I32),
      Sig.of("cublasGemmEx", I32, I64, I32, I32, I32, I32, I32, PTR, I64, I32, I32, I64, I32, I32, PTR, I64,
          I32, I32, I32, I32),
      Sig.of("cublasGemmStridedBatchedEx", I32, I64, I32, I32, I32, I32, I32, PTR, I64, I32, I32, I64, I64, I32,
          I32, I64, PTR, I64, I32, I32, I64, I32, I32, I32));

  private final NativeLib lib;
  private final MethodHandle gemmEx;
  private final MethodHandle gemmBatched;
  private final Arena scalars = Arena.ofShared();
  private final MemorySegment alpha = scalars.allocate(ValueLayout.JAVA_FLOAT);
  private final MemorySegment beta = scalars.allocate(ValueLayout.JAVA_FLOAT);
  private long handle;

  Cublas(NativeLib lib) {
    this.lib = lib.bindAll(SIGNATURES);
    this.gemmEx = lib.h("cublasGemmEx");
    this.gemmBatched = lib.h("cublasGemmStridedBatchedEx");
  }

  void check(int r, String call) {
    if (r == 0) return;
    String name;
    try {
      MemorySegment s = (MemorySegment) lib.h("cublasGetStatusName").invokeWithArguments(r);
      name = s.reinterpret(256).getString(0);
    } catch (Throwable t) {
      name = "CUBLAS_STATUS_" + r;
    }
    throw new CudaException(call, r, name);
  }

  private int invoke(String symbol, Object... args) {
    try {
      return (int) lib.h(symbol).invokeWithArguments(args);
    } catch (RuntimeException | Error e) {
      throw e;
    } catch (Throwable t) {
      throw new BackendFailure(symbol + " threw " + t, t);
    }
  }

  /** Creates the handle on the calling (owner) thread and gives it its workspace. */
  void create(long workspace) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment h = a.allocate(ValueLayout.JAVA_LONG);
      check(invoke("cublasCreate_v2", h), "cublasCreate_v2");
      handle = h.get(ValueLayout.JAVA_LONG, 0);
    }
    check(invoke("cublasSetWorkspace_v2", handle, workspace, WORKSPACE_BYTES), "cublasSetWorkspace_v2");
  }

  void destroy() {
    if (handle != 0) check(invoke("cublasDestroy_v2", handle), "cublasDestroy_v2");
    handle = 0;
    scalars.close();
  }

  /**
   * Row-major C[M,N] = alpha·op(A)·op(B) + beta·C with op(A) [M,K], op(B) [K,N]; lda/ldb/ldc are
   * the row strides of A, B, C as stored; types are CUDA_R_32F or CUDA_R_16BF (A and B alike).
   */
  void gemm(boolean transA, boolean transB, int m, int n, int k, float a, long pa, int lda, long pb, int ldb,
      float b, long pc, int ldc, int abType) {
    alpha.set(ValueLayout.JAVA_FLOAT, 0, a);
    beta.set(ValueLayout.JAVA_FLOAT, 0, b);
    int r;
    try {
      r = (int) gemmEx.invokeExact(handle, transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N,
          n, m, k, alpha, pb, abType, ldb, pa, abType, lda, beta, pc, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F,
          CUBLAS_GEMM_DEFAULT);
    } catch (Throwable t) {
      throw new BackendFailure("cublasGemmEx threw " + t, t);
    }
    check(r, "cublasGemmEx");
  }

  /** {@link #gemm} over a batch of matrices at fixed element strides, fp32. */
  void gemmBatched(boolean transA, boolean transB, int m, int n, int k, float a, long pa, int lda, long strideA,
      long pb, int ldb, long strideB, float b, long pc, int ldc, long strideC, int batch) {
    alpha.set(ValueLayout.JAVA_FLOAT, 0, a);
    beta.set(ValueLayout.JAVA_FLOAT, 0, b);
    int r;
    try {
      r = (int) gemmBatched.invokeExact(handle, transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N,
          n, m, k, alpha, pb, CUDA_R_32F, ldb, strideB, pa, CUDA_R_32F, lda, strideA, beta, pc, CUDA_R_32F, ldc,
          strideC, batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    } catch (Throwable t) {
      throw new BackendFailure("cublasGemmStridedBatchedEx threw " + t, t);
    }
    check(r, "cublasGemmStridedBatchedEx");
  }
}
