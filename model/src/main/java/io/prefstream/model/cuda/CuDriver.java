package io.prefstream.model.cuda;

import static io.prefstream.model.cuda.Sig.F32;
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
 * The CUDA driver API functions the backend uses, bound from {@code libcuda.so.1}. Versioned
 * symbols are bound by their exported names ({@code cuMemAlloc_v2} …): the header macros that pick
 * them do not exist for FFM. Handles (context, module, function, event) and device pointers are
 * {@code long}. Every call's CUresult is checked and named with {@code cuGetErrorName}. Must be used
 * from the thread that made the context current.
 */
final class CuDriver {
  static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
  static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
  static final int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
  static final int CU_JIT_ERROR_LOG_BUFFER = 5;
  static final int CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6;

  static final List<Sig> SIGNATURES = Sig.list(
      Sig.of("cuInit", I32, I32),
      Sig.of("cuDriverGetVersion", I32, PTR),
      Sig.of("cuDeviceGetCount", I32, PTR),
      Sig.of("cuDeviceGet", I32, PTR, I32),
      Sig.of("cuDeviceGetName", I32, PTR, I32, I32),
      Sig.of("cuDeviceGetAttribute", I32, PTR, I32, I32),
      Sig.of("cuDeviceTotalMem_v2", I32, PTR, I32),
      Sig.of("cuDevicePrimaryCtxRetain", I32, PTR, I32),
      Sig.of("cuDevicePrimaryCtxRelease_v2", I32, I32),
      Sig.of("cuCtxSetCurrent", I32, I64),
      Sig.of("cuCtxSynchronize", I32),
      Sig.of("cuMemAlloc_v2", I32, PTR, I64),
      Sig.of("cuMemFree_v2", I32, I64),
      Sig.of("cuMemGetInfo_v2", I32, PTR, PTR),
      Sig.of("cuMemcpyHtoD_v2", I32, I64, PTR, I64),
      Sig.of("cuMemcpyDtoH_v2", I32, PTR, I64, I64),
      Sig.of("cuMemcpyDtoD_v2", I32, I64, I64, I64),
      Sig.of("cuMemsetD32_v2", I32, I64, I32, I64),
      Sig.of("cuModuleLoadDataEx", I32, PTR, PTR, I32, PTR, PTR),
      Sig.of("cuModuleGetFunction", I32, PTR, I64, PTR),
      Sig.of("cuModuleUnload", I32, I64),
      Sig.of("cuFuncSetAttribute", I32, I64, I32, I32),
      Sig.of("cuLaunchKernel", I32, I64, I32, I32, I32, I32, I32, I32, I32, I64, PTR, PTR),
      Sig.of("cuEventCreate", I32, PTR, I32),
      Sig.of("cuEventRecord", I32, I64, I64),
      Sig.of("cuEventSynchronize", I32, I64),
      Sig.of("cuEventElapsedTime_v2", I32, PTR, I64, I64),
      Sig.of("cuEventDestroy_v2", I32, I64),
      Sig.of("cuGetErrorName", I32, I32, PTR));

  private final NativeLib lib;
  private final MethodHandle launch;
  private final MethodHandle memcpyHtoD;
  private final MethodHandle memcpyDtoH;
  private final MethodHandle errorName;

  CuDriver(NativeLib lib) {
    this.lib = lib.bindAll(SIGNATURES);
    this.launch = lib.h("cuLaunchKernel");
    this.memcpyHtoD = lib.h("cuMemcpyHtoD_v2");
    this.memcpyDtoH = lib.h("cuMemcpyDtoH_v2");
    this.errorName = lib.h("cuGetErrorName");
  }

  /** Throws a {@link CudaException} naming the call when r is not CUDA_SUCCESS. */
  void check(int r, String call) {
    if (r == 0) return;
    String name = "CUDA_ERROR_" + r;
    try (Arena a = Arena.ofConfined()) {
      MemorySegment p = a.allocate(PTR);
      if ((int) errorName.invokeExact(r, p) == 0) {
        name = p.get(PTR, 0).reinterpret(256).getString(0);
      }
    } catch (Throwable t) {
      name = name + " (cuGetErrorName failed: " + t + ")";
    }
    throw new CudaException(call, r, name);
  }

  /** A generic call for the setup functions; hot paths use their own exact handles. */
  void call(String symbol, Object... args) {
    int r;
    try {
      r = (int) lib.h(symbol).invokeWithArguments(args);
    } catch (RuntimeException | Error e) {
      throw e;
    } catch (Throwable t) {
      throw new BackendFailure(symbol + " threw " + t, t);
    }
    check(r, symbol);
  }

  int intOut(String symbol, Object... rest) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ValueLayout.JAVA_INT);
      Object[] args = prepend(out, rest);
      call(symbol, args);
      return out.get(ValueLayout.JAVA_INT, 0);
    }
  }

  long longOut(String symbol, Object... rest) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ValueLayout.JAVA_LONG);
      call(symbol, prepend(out, rest));
      return out.get(ValueLayout.JAVA_LONG, 0);
    }
  }

  private static Object[] prepend(Object first, Object[] rest) {
    Object[] args = new Object[rest.length + 1];
    args[0] = first;
    System.arraycopy(rest, 0, args, 1, rest.length);
    return args;
  }

  void launch(long function, int gx, int gy, int gz, int bx, int by, int bz, int shared, MemorySegment params) {
    int r;
    try {
      r = (int) launch.invokeExact(function, gx, gy, gz, bx, by, bz, shared, 0L, params, MemorySegment.NULL);
    } catch (Throwable t) {
      throw new BackendFailure("cuLaunchKernel threw " + t, t);
    }
    check(r, "cuLaunchKernel");
  }

  void htod(long dst, MemorySegment src, long bytes) {
    int r;
    try {
      r = (int) memcpyHtoD.invokeExact(dst, src, bytes);
    } catch (Throwable t) {
      throw new BackendFailure("cuMemcpyHtoD_v2 threw " + t, t);
    }
    check(r, "cuMemcpyHtoD_v2");
  }

  void dtoh(MemorySegment dst, long src, long bytes) {
    int r;
    try {
      r = (int) memcpyDtoH.invokeExact(dst, src, bytes);
    } catch (Throwable t) {
      throw new BackendFailure("cuMemcpyDtoH_v2 threw " + t, t);
    }
    check(r, "cuMemcpyDtoH_v2");
  }

  /** Milliseconds between two recorded events. */
  float elapsed(long start, long end) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment ms = a.allocate(F32);
      call("cuEventElapsedTime_v2", ms, start, end);
      return ms.get(ValueLayout.JAVA_FLOAT, 0);
    }
  }
}
