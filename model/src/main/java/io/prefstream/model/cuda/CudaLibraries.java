package io.prefstream.model.cuda;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Where the four CUDA libraries the backend binds live: the driver ({@code libcuda.so.1}, from the
 * NVIDIA driver), NVRTC ({@code libnvrtc.so.13}), cuBLAS and cuBLASLt ({@code libcublas.so.13},
 * {@code libcublasLt.so.13}, taken from one folder). Folders are searched in order: an explicit
 * setting ({@value #LIBDIR_PROPERTY} or {@value #LIBDIR_ENV}), {@code CUDA_HOME} and
 * {@code CUDA_PATH} (lib64 and targets/x86_64-linux/lib), {@code /usr/local/cuda/lib64},
 * {@code /usr/local/cuda/targets/x86_64-linux/lib}, then Python wheels
 * ({@code site-packages/nvidia/cu13/lib}); the driver and NVRTC may also come from the system
 * loader's path. Each value is an absolute path or a bare name the loader resolves.
 */
public record CudaLibraries(String driver, String nvrtc, String cublas, String cublasLt) {
  public static final String LIBDIR_PROPERTY = "prefstream.cuda.libdir";
  public static final String LIBDIR_ENV = "PREFSTREAM_CUDA_LIBDIR";
  static final String DRIVER = "libcuda.so.1";
  static final String NVRTC = "libnvrtc.so.13";
  static final String CUBLAS = "libcublas.so.13";
  static final String CUBLASLT = "libcublasLt.so.13";

  /** The outcome of a search: the libraries when all were found, else what is missing and where it looked. */
  public record Discovery(Optional<CudaLibraries> libraries, List<String> missing, List<Path> searched) {
    public boolean found() {
      return libraries.isPresent();
    }

    /** One line for logs and errors: what is missing and the folders searched. */
    public String reason() {
      if (found()) return "CUDA libraries found: " + libraries.get();
      return "missing " + String.join(", ", missing) + " (searched " + searched
          + " and the system loader path; set " + LIBDIR_ENV + " or -D" + LIBDIR_PROPERTY + " to the folder holding them)";
    }
  }

  /** Searches this process's environment and system properties. */
  public static Discovery discover() {
    return discover(System.getenv(), System.getProperty(LIBDIR_PROPERTY), CudaLibraries::loaderResolves);
  }

  /**
   * The search with its inputs explicit: env (CUDA_HOME, CUDA_PATH, VIRTUAL_ENV, HOME,
   * PREFSTREAM_CUDA_LIBDIR), an explicit folder (may be null) and a test of whether the system
   * loader resolves a bare library name.
   */
  static Discovery discover(Map<String, String> env, String explicitDir, Predicate<String> loaderResolves) {
    List<Path> dirs = searchFolders(env, explicitDir);
    List<String> missing = new ArrayList<>();
    String driver = find(dirs, DRIVER).map(Path::toString)
        .orElseGet(() -> loaderResolves.test(DRIVER) ? DRIVER : null);
    if (driver == null) missing.add(DRIVER + " (the NVIDIA driver: is a GPU with its driver installed?)");
    String nvrtc = find(dirs, NVRTC).map(Path::toString)
        .orElseGet(() -> loaderResolves.test(NVRTC) ? NVRTC : null);
    if (nvrtc == null) missing.add(NVRTC + " (NVRTC from the CUDA 13 toolkit)");
    // cuBLAS and cuBLASLt must come from one folder: a mixed pair fails at its first call.
    String cublas = null, cublasLt = null;
    for (Path d : dirs) {
      if (Files.isRegularFile(d.resolve(CUBLAS)) && Files.isRegularFile(d.resolve(CUBLASLT))) {
        cublas = d.resolve(CUBLAS).toString();
        cublasLt = d.resolve(CUBLASLT).toString();
        break;
      }
    }
    if (cublas == null) missing.add(CUBLAS + " + " + CUBLASLT + " (cuBLAS from the CUDA 13 toolkit, in one folder)");
    Optional<CudaLibraries> libs = missing.isEmpty()
        ? Optional.of(new CudaLibraries(driver, nvrtc, cublas, cublasLt)) : Optional.empty();
    return new Discovery(libs, List.copyOf(missing), dirs);
  }

  static List<Path> searchFolders(Map<String, String> env, String explicitDir) {
    Set<Path> dirs = new LinkedHashSet<>();
    if (explicitDir != null && !explicitDir.isBlank()) dirs.add(Path.of(explicitDir));
    String envDir = env.get(LIBDIR_ENV);
    if (envDir != null && !envDir.isBlank()) dirs.add(Path.of(envDir));
    for (String var : List.of("CUDA_HOME", "CUDA_PATH")) {
      String root = env.get(var);
      if (root == null || root.isBlank()) continue;
      dirs.add(Path.of(root, "lib64"));
      dirs.add(Path.of(root, "targets", "x86_64-linux", "lib"));
    }
    dirs.add(Path.of("/usr/local/cuda/lib64"));
    dirs.add(Path.of("/usr/local/cuda/targets/x86_64-linux/lib"));
    for (Path site : sitePackages(env)) dirs.add(site.resolve("nvidia").resolve("cu13").resolve("lib"));
    return List.copyOf(dirs);
  }

  /** Python package folders where pip puts the nvidia-*-cu13 wheels. */
  private static List<Path> sitePackages(Map<String, String> env) {
    List<Path> roots = new ArrayList<>();
    String venv = env.get("VIRTUAL_ENV");
    if (venv != null) roots.add(Path.of(venv, "lib"));
    String home = env.get("HOME");
    if (home != null) roots.add(Path.of(home, ".local", "lib"));
    roots.add(Path.of("/usr/local/lib"));
    roots.add(Path.of("/usr/lib"));
    List<Path> out = new ArrayList<>();
    for (Path root : roots) {
      if (!Files.isDirectory(root)) continue;
      try (DirectoryStream<Path> ds = Files.newDirectoryStream(root, "python3*")) {
        for (Path py : ds) {
          for (String kind : List.of("site-packages", "dist-packages")) {
            if (Files.isDirectory(py.resolve(kind))) out.add(py.resolve(kind));
          }
        }
      } catch (IOException e) {
        throw new java.io.UncheckedIOException("cannot list " + root + " while looking for CUDA wheels", e);
      }
    }
    return out;
  }

  private static Optional<Path> find(List<Path> dirs, String file) {
    for (Path d : dirs) {
      Path p = d.resolve(file);
      if (Files.isRegularFile(p)) return Optional.of(p);
    }
    return Optional.empty();
  }

  /** Whether dlopen finds a bare name on the loader path (ldconfig cache, LD_LIBRARY_PATH). */
  static boolean loaderResolves(String name) {
    try (Arena a = Arena.ofConfined()) {
      SymbolLookup.libraryLookup(name, a);
      return true;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }
}
