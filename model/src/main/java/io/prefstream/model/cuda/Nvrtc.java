package io.prefstream.model.cuda;

import static io.prefstream.model.cuda.Sig.I32;
import static io.prefstream.model.cuda.Sig.I64;
import static io.prefstream.model.cuda.Sig.PTR;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Map;

/**
 * NVRTC, bound from {@code libnvrtc.so.13}: compiles a kernel source (with named in-memory headers)
 * to a CUBIN for one architecture. A failed compile throws with NVRTC's log, so a kernel syntax
 * error names its file and line.
 */
final class Nvrtc {
  static final List<Sig> SIGNATURES = Sig.list(
      Sig.of("nvrtcVersion", I32, PTR, PTR),
      Sig.of("nvrtcCreateProgram", I32, PTR, PTR, PTR, I32, PTR, PTR),
      Sig.of("nvrtcCompileProgram", I32, I64, I32, PTR),
      Sig.of("nvrtcGetProgramLogSize", I32, I64, PTR),
      Sig.of("nvrtcGetProgramLog", I32, I64, PTR),
      Sig.of("nvrtcGetCUBINSize", I32, I64, PTR),
      Sig.of("nvrtcGetCUBIN", I32, I64, PTR),
      Sig.of("nvrtcDestroyProgram", I32, PTR),
      Sig.of("nvrtcGetErrorString", PTR, I32));

  private final NativeLib lib;

  Nvrtc(NativeLib lib) {
    this.lib = lib.bindAll(SIGNATURES);
  }

  /**
   * Loads NVRTC by path or bare name. NVRTC opens its builtins library ({@code
   * libnvrtc-builtins.so.13.x}) by soname at its first compile; when NVRTC comes from a folder that
   * is not on the loader path (the toolkit's targets folder, a Python wheel), that lookup fails, so
   * the builtins beside it are loaded first by path and the soname lookup finds them loaded.
   */
  static Nvrtc load(String pathOrName) {
    if (pathOrName.contains("/")) {
      java.nio.file.Path dir = java.nio.file.Path.of(pathOrName).getParent();
      try (java.nio.file.DirectoryStream<java.nio.file.Path> ds =
          java.nio.file.Files.newDirectoryStream(dir, "libnvrtc-builtins.so.13*")) {
        for (java.nio.file.Path b : ds) {
          if (!b.getFileName().toString().contains(".alt.")) NativeLib.load("NVRTC builtins", b.toString());
        }
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException("cannot list " + dir + " for the NVRTC builtins", e);
      }
    }
    return new Nvrtc(NativeLib.load("NVRTC", pathOrName));
  }

  private int invoke(String symbol, Object... args) {
    try {
      return (int) lib.h(symbol).invokeWithArguments(args);
    } catch (RuntimeException | Error e) {
      throw e;
    } catch (Throwable t) {
      throw new IllegalStateException(symbol + " threw " + t, t);
    }
  }

  private void check(int r, String call) {
    if (r == 0) return;
    String name;
    try {
      MemorySegment s = (MemorySegment) lib.h("nvrtcGetErrorString").invokeWithArguments(r);
      name = s.reinterpret(256).getString(0);
    } catch (Throwable t) {
      name = "NVRTC_ERROR_" + r;
    }
    throw new CudaException(call, r, name);
  }

  /** "major.minor" of the loaded NVRTC. */
  String version() {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment maj = a.allocate(ValueLayout.JAVA_INT), min = a.allocate(ValueLayout.JAVA_INT);
      check(invoke("nvrtcVersion", maj, min), "nvrtcVersion");
      return maj.get(ValueLayout.JAVA_INT, 0) + "." + min.get(ValueLayout.JAVA_INT, 0);
    }
  }

  /** Compiles source to a CUBIN image; headers maps include names to their text. */
  byte[] compileToCubin(String name, String source, Map<String, String> headers, List<String> options) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment progOut = a.allocate(ValueLayout.JAVA_LONG);
      int nh = headers.size();
      MemorySegment hdrs = a.allocate(ValueLayout.ADDRESS, Math.max(1, nh));
      MemorySegment names = a.allocate(ValueLayout.ADDRESS, Math.max(1, nh));
      int i = 0;
      for (Map.Entry<String, String> e : headers.entrySet()) {
        hdrs.setAtIndex(ValueLayout.ADDRESS, i, a.allocateFrom(e.getValue()));
        names.setAtIndex(ValueLayout.ADDRESS, i, a.allocateFrom(e.getKey()));
        i++;
      }
      check(invoke("nvrtcCreateProgram", progOut, a.allocateFrom(source), a.allocateFrom(name), nh,
          nh == 0 ? MemorySegment.NULL : hdrs, nh == 0 ? MemorySegment.NULL : names), "nvrtcCreateProgram(" + name + ")");
      long prog = progOut.get(ValueLayout.JAVA_LONG, 0);
      try {
        MemorySegment opts = a.allocate(ValueLayout.ADDRESS, Math.max(1, options.size()));
        for (int k = 0; k < options.size(); k++) opts.setAtIndex(ValueLayout.ADDRESS, k, a.allocateFrom(options.get(k)));
        int r = invoke("nvrtcCompileProgram", prog, options.size(), opts);
        if (r != 0) {
          throw new IllegalStateException("NVRTC could not compile " + name + " " + options + ":\n" + log(a, prog));
        }
        MemorySegment size = a.allocate(ValueLayout.JAVA_LONG);
        check(invoke("nvrtcGetCUBINSize", prog, size), "nvrtcGetCUBINSize(" + name + ")");
        MemorySegment cubin = a.allocate(size.get(ValueLayout.JAVA_LONG, 0));
        check(invoke("nvrtcGetCUBIN", prog, cubin), "nvrtcGetCUBIN(" + name + ")");
        return cubin.toArray(ValueLayout.JAVA_BYTE);
      } finally {
        invoke("nvrtcDestroyProgram", progOut);
      }
    }
  }

  private String log(Arena a, long prog) {
    MemorySegment size = a.allocate(ValueLayout.JAVA_LONG);
    check(invoke("nvrtcGetProgramLogSize", prog, size), "nvrtcGetProgramLogSize");
    MemorySegment text = a.allocate(Math.max(1, size.get(ValueLayout.JAVA_LONG, 0)));
    check(invoke("nvrtcGetProgramLog", prog, text), "nvrtcGetProgramLog");
    return text.getString(0);
  }
}
