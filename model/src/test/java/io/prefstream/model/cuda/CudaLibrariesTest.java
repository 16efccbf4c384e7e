package io.prefstream.model.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prefstream.model.backend.Backends;
import io.prefstream.model.cpu.CpuBackend;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Library discovery and the --device choice, without a GPU. */
class CudaLibrariesTest {

  private static void touch(Path dir, String... files) throws IOException {
    Files.createDirectories(dir);
    for (String f : files) Files.writeString(dir.resolve(f), "");
  }

  @Test
  void nothingFoundNamesEveryMissingLibraryAndTheFoldersSearched(@TempDir Path tmp) {
    CudaLibraries.Discovery d = CudaLibraries.discover(Map.of("CUDA_HOME", tmp.toString()), null, name -> false);
    assertThat(d.found()).isFalse();
    assertThat(d.reason()).contains("libcuda.so.1", "libnvrtc.so.13", "libcublas.so.13", "libcublasLt.so.13",
        tmp.resolve("lib64").toString(), "PREFSTREAM_CUDA_LIBDIR");
  }

  @Test
  void explicitFolderComesFirstAndCublasPairIsTakenFromOneFolder(@TempDir Path tmp) throws IOException {
    Path explicit = tmp.resolve("explicit"), home = tmp.resolve("home");
    touch(explicit, "libcuda.so.1", "libnvrtc.so.13", "libcublas.so.13", "libcublasLt.so.13");
    touch(home.resolve("lib64"), "libcuda.so.1", "libnvrtc.so.13", "libcublas.so.13", "libcublasLt.so.13");
    CudaLibraries.Discovery d = CudaLibraries.discover(Map.of("CUDA_HOME", home.toString()), explicit.toString(), n -> false);
    assertThat(d.libraries()).contains(new CudaLibraries(explicit.resolve("libcuda.so.1").toString(),
        explicit.resolve("libnvrtc.so.13").toString(), explicit.resolve("libcublas.so.13").toString(),
        explicit.resolve("libcublasLt.so.13").toString()));
  }

  @Test
  void toolkitTargetsFolderAndLoaderPathAreUsedLikeOnTheLentMachine(@TempDir Path tmp) throws IOException {
    // the lent machine: driver and NVRTC on the loader path, cuBLAS only under targets/x86_64-linux/lib
    Path targets = tmp.resolve("targets").resolve("x86_64-linux").resolve("lib");
    touch(targets, "libcublas.so.13", "libcublasLt.so.13");
    CudaLibraries.Discovery d = CudaLibraries.discover(Map.of("CUDA_PATH", tmp.toString()), null,
        n -> n.equals("libcuda.so.1") || n.equals("libnvrtc.so.13"));
    assertThat(d.found()).as(d.reason()).isTrue();
    CudaLibraries l = d.libraries().orElseThrow();
    assertThat(l.driver()).isEqualTo("libcuda.so.1");
    assertThat(l.nvrtc()).isEqualTo("libnvrtc.so.13");
    assertThat(l.cublas()).isEqualTo(targets.resolve("libcublas.so.13").toString());
    assertThat(l.cublasLt()).isEqualTo(targets.resolve("libcublasLt.so.13").toString());
  }

  @Test
  void cublasWithoutItsLtInTheSameFolderCountsAsMissing(@TempDir Path tmp) throws IOException {
    touch(tmp.resolve("a"), "libcublas.so.13");
    touch(tmp.resolve("b"), "libcublasLt.so.13");
    CudaLibraries.Discovery d = CudaLibraries.discover(Map.of(CudaLibraries.LIBDIR_ENV, tmp.resolve("a").toString(),
        "CUDA_HOME", tmp.resolve("b").toString()), null, n -> true);
    assertThat(d.found()).isFalse();
    assertThat(d.missing()).singleElement().asString().contains("libcublas.so.13 + libcublasLt.so.13");
  }

  @Test
  void pythonWheelFolderIsSearched(@TempDir Path tmp) throws IOException {
    Path wheel = tmp.resolve("lib").resolve("python3.12").resolve("site-packages").resolve("nvidia").resolve("cu13").resolve("lib");
    touch(wheel, "libnvrtc.so.13", "libcublas.so.13", "libcublasLt.so.13");
    CudaLibraries.Discovery d = CudaLibraries.discover(Map.of("VIRTUAL_ENV", tmp.toString()), null, n -> n.equals("libcuda.so.1"));
    assertThat(d.found()).as(d.reason()).isTrue();
    assertThat(d.libraries().orElseThrow().nvrtc()).isEqualTo(wheel.resolve("libnvrtc.so.13").toString());
  }

  @Test
  void autoPicksCpuWithAReasonWhenNoCudaIsFound() {
    CudaLibraries.Discovery here = CudaLibraries.discover();
    Assumptions.assumeFalse(here.found(), "this machine has the CUDA libraries");
    Backends.Choice c = Backends.choose("auto");
    try {
      assertThat(c.backend()).isInstanceOf(CpuBackend.class);
      assertThat(c.device()).isEqualTo("cpu");
      assertThat(c.reason()).startsWith("no CUDA: missing");
    } finally {
      c.backend().close();
    }
  }

  @Test
  void cudaRequestedWithoutLibrariesFailsNamingWhatIsMissing() {
    CudaLibraries.Discovery here = CudaLibraries.discover();
    Assumptions.assumeFalse(here.found(), "this machine has the CUDA libraries");
    assertThatThrownBy(() -> Backends.create("cuda"))
        .isInstanceOf(CudaUnavailableException.class)
        .hasMessageContaining("cannot start")
        .hasMessageContaining(here.missing().get(0).split(" ")[0]);
  }

  @Test
  void unknownDeviceIsRefusedWithTheChoices() {
    assertThatThrownBy(() -> Backends.create("tpu")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("auto, cpu or cuda").hasMessageContaining("tpu");
  }

  @Test
  void cpuIsCreatedWithoutLookingForCuda() {
    try (var b = Backends.create("cpu")) {
      assertThat(b).isInstanceOf(CpuBackend.class);
    }
  }
}
