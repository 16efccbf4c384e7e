package io.prefstream.model.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs every CUDA kernel on a CPU emulator (src/test/cuda-emu: blocks in turn, a block's threads as
 * std::threads with barriers for __syncthreads and warp shuffles) against numpy float64 references
 * and finite differences, so the kernels' arithmetic and indexing are checked on machines without
 * a GPU. Needs g++ (C++20) and python3 with numpy; skipped with the reason otherwise.
 */
class KernelEmulationTest {
  private static boolean runs(String... cmd) {
    try {
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
      p.getInputStream().readAllBytes();
      return p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
    } catch (Exception e) {
      return false;
    }
  }

  @Test
  void everyKernelMatchesItsReferenceOnTheCpuEmulator(@TempDir Path build) throws Exception {
    Assumptions.assumeTrue(runs("g++", "--version"), "g++ is not installed");
    Assumptions.assumeTrue(runs("python3", "-c", "import numpy"), "python3 with numpy is not installed");
    Path script = Path.of("src/test/cuda-emu/run.sh");
    assertThat(script).exists();
    Process p = new ProcessBuilder("bash", script.toString(), build.toString()).redirectErrorStream(true).start();
    String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(300, TimeUnit.SECONDS)).as("emulation finished").isTrue();
    Files.writeString(build.resolve("emulation.log"), log);
    assertThat(p.exitValue()).as(log).isZero();
    assertThat(log).contains("all kernels match their references on the CPU emulator").doesNotContain("FAIL");
  }
}
