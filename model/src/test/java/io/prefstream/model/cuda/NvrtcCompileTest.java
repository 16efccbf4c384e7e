package io.prefstream.model.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The NVRTC binding and the kernel cache, run for real wherever libnvrtc.so.13 is found (NVRTC
 * needs no GPU): every kernel file compiles through our FFM binding to a CUBIN for sm_90, a second
 * request is served from the disk cache, and a compile error carries NVRTC's log.
 */
class NvrtcCompileTest {

  private static Optional<String> nvrtcLibrary() {
    for (Path d : CudaLibraries.searchFolders(System.getenv(), System.getProperty(CudaLibraries.LIBDIR_PROPERTY))) {
      Path p = d.resolve(CudaLibraries.NVRTC);
      if (Files.isRegularFile(p)) return Optional.of(p.toString());
    }
    return CudaLibraries.loaderResolves(CudaLibraries.NVRTC) ? Optional.of(CudaLibraries.NVRTC) : Optional.empty();
  }

  private static Nvrtc nvrtc() {
    Optional<String> lib = nvrtcLibrary();
    Assumptions.assumeTrue(lib.isPresent(), CudaLibraries.NVRTC + " not found (set " + CudaLibraries.LIBDIR_ENV + ")");
    return Nvrtc.load(lib.get());
  }

  @Test
  void everyKernelCompilesThroughTheFfmBindingAndIsCachedOnDisk(@TempDir Path cacheDir) throws IOException {
    Nvrtc nvrtc = nvrtc();
    assertThat(nvrtc.version()).matches("\\d+\\.\\d+");
    KernelCache cache = new KernelCache(cacheDir, nvrtc);
    String header = KernelSources.read(KernelSources.HEADER);
    for (String file : KernelSources.FILES) {
      byte[] cubin = cache.cubin(file, KernelSources.read(file), header, "sm_90");
      assertThat(cubin).as(file).startsWith(0x7f, 'E', 'L', 'F');
      String image = new String(cubin, java.nio.charset.StandardCharsets.ISO_8859_1);
      for (String kernel : KernelSources.kernelNames(KernelSources.read(file))) {
        assertThat(image).as("%s defines %s", file, kernel).contains(kernel);
      }
    }
    List<Path> cached;
    try (Stream<Path> s = Files.list(cacheDir)) {
      cached = s.filter(p -> p.toString().endsWith(".cubin")).toList();
    }
    assertThat(cached).hasSize(KernelSources.FILES.size());
    assertThat(cached).allSatisfy(p -> assertThat(p.getFileName().toString()).contains("-sm_90-nvrtc" + nvrtc.version()));
    // the second request reads the file: make it recognisable and see it come back
    Path one = cached.get(0);
    byte[] marker = {1, 2, 3};
    Files.write(one, marker);
    String file = one.getFileName().toString().substring(0, one.getFileName().toString().indexOf('-')) + ".cu";
    assertThat(cache.cubin(file, KernelSources.read(file), header, "sm_90")).containsExactly(marker);
  }

  @Test
  void compileErrorCarriesNvrtcsLog(@TempDir Path cacheDir) {
    Nvrtc nvrtc = nvrtc();
    assertThatThrownBy(() -> nvrtc.compileToCubin("broken.cu", "#include \"common.cuh\"\nextern \"C\" __global__ void k(float* x) { x[0] = undefined_name; }\n",
        Map.of(KernelSources.HEADER, KernelSources.read(KernelSources.HEADER)), List.of("--gpu-architecture=sm_90")))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("broken.cu")
        .hasMessageContaining("undefined_name");
  }
}
