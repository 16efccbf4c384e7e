package io.prefstream.model.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Binds every signature against the real shared libraries wherever they are found (NVRTC and cuBLAS
 * load without a GPU; the driver only where one is installed), and checks with the JDK's own symbol
 * lookup, not through our binding code, that each symbol is exported under the exact, versioned name
 * we bind. Nothing is called.
 */
class NativeSymbolsTest {

  private static Optional<String> locate(String file) {
    for (Path d : CudaLibraries.searchFolders(System.getenv(), System.getProperty(CudaLibraries.LIBDIR_PROPERTY))) {
      if (Files.isRegularFile(d.resolve(file))) return Optional.of(d.resolve(file).toString());
    }
    return CudaLibraries.loaderResolves(file) ? Optional.of(file) : Optional.empty();
  }

  private static void bindsAll(String what, String file, List<Sig> sigs) {
    Optional<String> lib = locate(file);
    Assumptions.assumeTrue(lib.isPresent(), file + " not found (set " + CudaLibraries.LIBDIR_ENV + ")");
    if (file.equals(CudaLibraries.CUBLAS)) {
      // cuBLAS needs its Lt from the same folder, as the backend loads it
      Optional<String> lt = locate(CudaLibraries.CUBLASLT);
      Assumptions.assumeTrue(lt.isPresent(), CudaLibraries.CUBLASLT + " not found");
      NativeLib.load("cuBLASLt", lt.get());
    }
    NativeLib.load(what, lib.get()).bindAll(sigs);
    // Independently of NativeLib: the library itself exports each symbol under the exact name bound.
    // (That each binding has the parameters the C declaration has is HeaderSignatureTest's job.)
    try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
      java.lang.foreign.SymbolLookup lookup = lib.get().contains("/")
          ? java.lang.foreign.SymbolLookup.libraryLookup(Path.of(lib.get()), arena)
          : java.lang.foreign.SymbolLookup.libraryLookup(lib.get(), arena);
      List<String> missing = sigs.stream().map(Sig::symbol).filter(n -> lookup.find(n).isEmpty()).toList();
      assertThat(missing).as("symbols %s does not export", file).isEmpty();
      assertThat(lookup.find("prefstreamNoSuchSymbol")).as("the lookup can tell a missing symbol").isEmpty();
    }
  }

  @Test
  void nvrtcExportsEveryBoundSymbol() {
    bindsAll("NVRTC", CudaLibraries.NVRTC, Nvrtc.SIGNATURES);
  }

  @Test
  void cublasExportsEveryBoundSymbol() {
    bindsAll("cuBLAS", CudaLibraries.CUBLAS, Cublas.SIGNATURES);
  }

  @Test
  void driverExportsEveryBoundSymbol() {
    bindsAll("the CUDA driver", CudaLibraries.DRIVER, CuDriver.SIGNATURES);
  }

  @Test
  void cublasCallWithoutADriverFailsWithItsStatusNamed() {
    Assumptions.assumeTrue(locate(CudaLibraries.DRIVER).isEmpty(), "a CUDA driver is installed here");
    Optional<String> lib = locate(CudaLibraries.CUBLAS), lt = locate(CudaLibraries.CUBLASLT);
    Assumptions.assumeTrue(lib.isPresent() && lt.isPresent(), CudaLibraries.CUBLAS + " not found (set " + CudaLibraries.LIBDIR_ENV + ")");
    NativeLib.load("cuBLASLt", lt.get());
    Cublas cublas = new Cublas(NativeLib.load("cuBLAS", lib.get()));
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> cublas.create(0))
        .isInstanceOf(CudaException.class)
        .hasMessageStartingWith("cublasCreate_v2 failed: CUBLAS_STATUS_");
  }
}
