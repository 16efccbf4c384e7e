package io.prefstream.model.cuda;

import io.prefstream.model.backend.BackendFailure;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One GPU driven from one owner thread: the libraries, the device's primary context (current on
 * the owner thread only; a context is current per OS thread, so the owner is a platform thread,
 * never a virtual one), the kernels compiled for its {@code sm_XY} and loaded as modules, the cuBLAS
 * handle, and device memory. Everything runs on the legacy default stream, so kernel launches,
 * cuBLAS calls and the synchronous copies are ordered without events. Callers on other threads go
 * through {@link #call}, which submits to the owner and waits.
 */
final class CudaDevice implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(CudaDevice.class);
  private static final long MAX_DEFAULT_SHARED = 48 * 1024;

  private final ExecutorService owner;
  private volatile Thread ownerThread;
  private final boolean debug;
  private CuDriver cu;
  private Nvrtc nvrtc;
  private Cublas cublas;
  private int device;
  private long context;
  private String name;
  private int major, minor;
  private long workspace;
  private final List<Long> modules = new java.util.ArrayList<>();
  private final Map<String, Long> functions = new HashMap<>();
  private final Map<String, Integer> sharedLimit = new HashMap<>();
  private final Set<Long> live = new LinkedHashSet<>();
  /** Device pointers of buffers the GC found unreachable; freed by the owner at its next call. */
  final ConcurrentLinkedQueue<Long> released = new ConcurrentLinkedQueue<>();
  private volatile boolean closed;
  /** The first failure of a queued op, thrown by the next op that waits (owner thread only). */
  private RuntimeException pending;

  private CudaDevice(boolean debug) {
    this.debug = debug;
    this.owner = Executors.newSingleThreadExecutor(r -> {
      Thread t = Thread.ofPlatform().name("cuda-owner").daemon(true).unstarted(r);
      ownerThread = t;
      return t;
    });
  }

  /** Loads the libraries, makes device 0's (or ordinal's) primary context current and loads the kernels. */
  static CudaDevice open(CudaLibraries libs, int ordinal, Path cacheDir, boolean debug) {
    CudaDevice d = new CudaDevice(debug);
    try {
      d.call(() -> {
        d.init(libs, ordinal, cacheDir);
        return null;
      });
    } catch (RuntimeException e) {
      d.owner.shutdownNow();
      throw e;
    }
    return d;
  }

  private void init(CudaLibraries libs, int ordinal, Path cacheDir) {
    long t0 = System.nanoTime();
    cu = new CuDriver(NativeLib.load("the CUDA driver", libs.driver()));
    nvrtc = Nvrtc.load(libs.nvrtc());
    // cuBLAS resolves cuBLASLt by soname: load Lt first from the same folder so that copy is used.
    NativeLib.load("cuBLASLt", libs.cublasLt());
    cublas = new Cublas(NativeLib.load("cuBLAS", libs.cublas()));
    cu.call("cuInit", 0);
    int count = cu.intOut("cuDeviceGetCount");
    if (count == 0) throw new CudaUnavailableException("the CUDA driver reports no device");
    if (ordinal < 0 || ordinal >= count) {
      throw new IllegalArgumentException("CUDA device " + ordinal + " requested, the driver reports " + count);
    }
    device = cu.intOut("cuDeviceGet", ordinal);
    major = cu.intOut("cuDeviceGetAttribute", CuDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
    minor = cu.intOut("cuDeviceGetAttribute", CuDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device);
    try (Arena a = Arena.ofConfined()) {
      MemorySegment buf = a.allocate(256);
      cu.call("cuDeviceGetName", buf, 256, device);
      name = buf.getString(0);
    }
    context = cu.longOut("cuDevicePrimaryCtxRetain", device);
    cu.call("cuCtxSetCurrent", context);
    workspace = cu.longOut("cuMemAlloc_v2", Cublas.WORKSPACE_BYTES);
    cublas.create(workspace);
    loadKernels(new KernelCache(cacheDir, nvrtc), "sm_" + major + minor);
    log.info("CUDA device {} '{}' sm_{}{} ready in {} ms (driver {}, NVRTC {}, kernels cached in {}){}", ordinal, name,
        major, minor, (System.nanoTime() - t0) / 1_000_000, cu.intOut("cuDriverGetVersion"), nvrtc.version(), cacheDir,
        debug ? ", debug: synchronising after every launch" : "");
  }

  private void loadKernels(KernelCache cache, String arch) {
    String header = KernelSources.read(KernelSources.HEADER);
    for (String file : KernelSources.FILES) {
      String src = KernelSources.read(file);
      byte[] image = cache.cubin(file, src, header, arch);
      long module = loadModule(file, image);
      modules.add(module);
      for (String k : KernelSources.kernelNames(src)) {
        try (Arena a = Arena.ofConfined()) {
          functions.put(k, cu.longOut("cuModuleGetFunction", module, a.allocateFrom(k)));
        }
      }
    }
  }

  private long loadModule(String file, byte[] image) {
    try (Arena a = Arena.ofConfined()) {
      int logSize = 8192;
      MemorySegment logBuf = a.allocate(logSize);
      MemorySegment opts = a.allocate(ValueLayout.JAVA_INT, 2);
      opts.setAtIndex(ValueLayout.JAVA_INT, 0, CuDriver.CU_JIT_ERROR_LOG_BUFFER);
      opts.setAtIndex(ValueLayout.JAVA_INT, 1, CuDriver.CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES);
      MemorySegment vals = a.allocate(ValueLayout.ADDRESS, 2);
      vals.setAtIndex(ValueLayout.ADDRESS, 0, logBuf);
      vals.setAtIndex(ValueLayout.ADDRESS, 1, MemorySegment.ofAddress(logSize));
      MemorySegment out = a.allocate(ValueLayout.JAVA_LONG);
      MemorySegment img = a.allocate(image.length + 1L, 16); // ELF images want aligned memory
      MemorySegment.copy(image, 0, img, ValueLayout.JAVA_BYTE, 0, image.length);
      try {
        cu.call("cuModuleLoadDataEx", out, img, 2, opts, vals);
      } catch (CudaException e) {
        throw new IllegalStateException("loading the CUBIN of " + file + " failed: " + e.getMessage()
            + "; JIT log: " + logBuf.getString(0), e);
      }
      return out.get(ValueLayout.JAVA_LONG, 0);
    }
  }

  // ---- owner thread -----------------------------------------------------------------------------

  /** Runs work on the owner thread (directly when already there) and returns its result. */
  <T> T call(Callable<T> work) {
    if (Thread.currentThread() == ownerThread) return run(work);
    if (closed) throw new IllegalStateException("the CUDA backend is closed");
    Future<T> f = owner.submit(() -> {
      rethrowPending();
      return run(work);
    });
    try {
      return f.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      // The op may or may not have run: what is on the device is no longer known.
      throw new BackendFailure("interrupted while waiting for the GPU owner thread", e);
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      if (c instanceof RuntimeException r) throw r;
      if (c instanceof Error err) throw err;
      throw new BackendFailure("a GPU op failed: " + c, c);
    }
  }

  void run(Runnable work) {
    call(() -> {
      work.run();
      return null;
    });
  }

  /**
   * Queues work that returns nothing on the owner thread and returns at once; ops run in the order
   * they were posted. A failure is kept and thrown by the next {@link #call}, and later queued work
   * is skipped (after a failure the GPU state is not trusted). In debug mode every op waits.
   */
  void post(Runnable work) {
    if (debug || Thread.currentThread() == ownerThread) {
      run(work);
      return;
    }
    if (closed) throw new IllegalStateException("the CUDA backend is closed");
    owner.execute(() -> {
      if (pending != null) return;
      try {
        run(() -> {
          work.run();
          return null;
        });
      } catch (RuntimeException e) {
        pending = e;
      }
    });
  }

  private void rethrowPending() {
    RuntimeException e = pending;
    if (e == null) return;
    pending = null;
    throw new BackendFailure("an earlier queued GPU op failed: " + e.getMessage(), e);
  }

  private <T> T run(Callable<T> work) {
    if (!released.isEmpty()) {
      // buffers the GC released may still be read by queued kernels: let those finish first
      synchronize("freeing released buffers");
      Long p;
      while ((p = released.poll()) != null) free(p);
    }
    try {
      return work.call();
    } catch (RuntimeException e) {
      throw e;
    } catch (Exception e) {
      throw new BackendFailure("a GPU op failed: " + e, e);
    }
  }

  // ---- memory, copies, launches (owner thread only) --------------------------------------------

  long malloc(long bytes) {
    long p = cu.longOut("cuMemAlloc_v2", Math.max(4, bytes));
    live.add(p);
    return p;
  }

  void free(long p) {
    if (live.remove(p)) cu.call("cuMemFree_v2", p);
  }

  void memsetZero(long p, long floats) {
    if (floats > 0) cu.call("cuMemsetD32_v2", p, 0, floats);
  }

  void htod(long dst, MemorySegment src, long bytes) {
    if (bytes > 0) cu.htod(dst, src, bytes);
  }

  void dtoh(MemorySegment dst, long src, long bytes) {
    if (bytes > 0) cu.dtoh(dst, src, bytes);
  }

  void dtod(long dst, long src, long bytes) {
    if (bytes > 0) cu.call("cuMemcpyDtoD_v2", dst, src, bytes);
  }

  void synchronize(String after) {
    try {
      cu.call("cuCtxSynchronize");
    } catch (CudaException e) {
      throw new CudaException("cuCtxSynchronize after " + after, e.code(), e.getMessage());
    }
  }

  long[] memInfo() {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment free = a.allocate(ValueLayout.JAVA_LONG), total = a.allocate(ValueLayout.JAVA_LONG);
      cu.call("cuMemGetInfo_v2", free, total);
      return new long[] {free.get(ValueLayout.JAVA_LONG, 0), total.get(ValueLayout.JAVA_LONG, 0)};
    }
  }

  /**
   * Launches a kernel by name with arguments Long (pointers, long long), Integer (int) or Float;
   * the argument order and types must match the kernel's C signature.
   */
  void launch(String kernel, long gridX, int gridY, int block, int sharedBytes, Object... args) {
    Long f = functions.get(kernel);
    if (f == null) throw new IllegalArgumentException("no CUDA kernel named " + kernel);
    if (gridX <= 0 || gridY <= 0) return; // nothing to do for empty shapes
    if (gridX > Integer.MAX_VALUE) throw new IllegalArgumentException(kernel + ": grid of " + gridX + " blocks is too large");
    if (sharedBytes > MAX_DEFAULT_SHARED && sharedLimit.getOrDefault(kernel, 0) < sharedBytes) {
      cu.call("cuFuncSetAttribute", f, CuDriver.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, sharedBytes);
      sharedLimit.put(kernel, sharedBytes);
    }
    try (Arena a = Arena.ofConfined()) {
      MemorySegment params = a.allocate(ValueLayout.ADDRESS, Math.max(1, args.length));
      for (int i = 0; i < args.length; i++) {
        MemorySegment v = switch (args[i]) {
          case Long l -> a.allocateFrom(ValueLayout.JAVA_LONG, l);
          case Integer n -> a.allocateFrom(ValueLayout.JAVA_INT, n);
          case Float x -> a.allocateFrom(ValueLayout.JAVA_FLOAT, x);
          default -> throw new IllegalArgumentException(kernel + " argument " + i + " has unsupported type " + args[i].getClass());
        };
        params.setAtIndex(ValueLayout.ADDRESS, i, v);
      }
      cu.launch(f, (int) gridX, gridY, 1, block, 1, 1, sharedBytes, params);
    }
    if (debug) synchronize(kernel);
  }

  Cublas cublas() {
    return cublas;
  }

  boolean debug() {
    return debug;
  }

  String name() {
    return name;
  }

  String arch() {
    return "sm_" + major + minor;
  }

  CuDriver driver() {
    return cu;
  }

  @Override
  public void close() {
    if (closed) return;
    try {
      call(() -> null);
    } catch (RuntimeException e) {
      log.warn("closing the CUDA backend after a failed GPU op: {}", e.getMessage());
    }
    try {
      call(() -> {
        for (Long p : List.copyOf(live)) cu.call("cuMemFree_v2", p);
        live.clear();
        for (Long m : modules) cu.call("cuModuleUnload", m);
        if (cublas != null) cublas.destroy();
        if (workspace != 0) cu.call("cuMemFree_v2", workspace);
        if (context != 0) cu.call("cuDevicePrimaryCtxRelease_v2", device);
        return null;
      });
    } finally {
      closed = true;
      owner.shutdown();
    }
  }
}
