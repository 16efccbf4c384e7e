package io.prefstream.model.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Guards the kernels on machines without a GPU: every kernel resource compiles with nvcc for
 * Hopper (sm_90) and Ampere (sm_80) with warnings as errors, the resource list is complete, and
 * every launch in the package's classes ({@link CudaBackend}, {@link CudaBatchedOps}) names an
 * existing kernel with as many arguments as the kernel has parameters (a mismatch would otherwise
 * only show, as garbage, on a GPU), and every kernel is launched somewhere.
 */
class NvccCompileTest {
  private static final Path SOURCES = Path.of("src/main/java/io/prefstream/model/cuda");

  private static Optional<Path> nvcc() {
    String path = System.getenv("PATH");
    if (path == null) return Optional.empty();
    for (String dir : path.split(java.io.File.pathSeparator)) {
      Path p = Path.of(dir, "nvcc");
      if (Files.isExecutable(p)) return Optional.of(p);
    }
    return Optional.empty();
  }

  private static Path writeKernels(Path dir) throws IOException {
    Files.writeString(dir.resolve(KernelSources.HEADER), KernelSources.read(KernelSources.HEADER));
    for (Map.Entry<String, String> e : KernelSources.all().entrySet()) Files.writeString(dir.resolve(e.getKey()), e.getValue());
    return dir;
  }

  @Test
  void everyKernelFileCompilesWithNvccForSm90AndSm80(@TempDir Path tmp) throws Exception {
    Optional<Path> nvcc = nvcc();
    Assumptions.assumeTrue(nvcc.isPresent(), "nvcc is not on the PATH");
    Path src = writeKernels(Files.createDirectory(tmp.resolve("src")));
    for (String arch : List.of("sm_90", "sm_80")) {
      Path out = Files.createDirectory(tmp.resolve(arch));
      List<String> cmd = new ArrayList<>(List.of(nvcc.get().toString(), "-arch=" + arch, "-cubin", "--std=c++17",
          "--Werror", "all-warnings", "-I", src.toString()));
      for (String f : KernelSources.FILES) cmd.add(src.resolve(f).toString());
      Process p = new ProcessBuilder(cmd).directory(out.toFile()).redirectErrorStream(true).start();
      String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(p.waitFor(120, TimeUnit.SECONDS)).as("nvcc finished").isTrue();
      assertThat(p.exitValue()).as("nvcc %s:\n%s", arch, log).isZero();
      for (String f : KernelSources.FILES) {
        assertThat(out.resolve(f.replace(".cu", ".cubin"))).as("%s for %s", f, arch).isNotEmptyFile();
      }
    }
  }

  @Test
  void resourceListNamesEveryKernelFileAndEachDefinesKernels() throws IOException {
    Path dir = Path.of("src/main/resources" + KernelSources.FOLDER);
    List<String> onDisk;
    try (Stream<Path> s = Files.list(dir)) {
      onDisk = s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".cu")).sorted().toList();
    }
    assertThat(KernelSources.FILES).containsExactlyInAnyOrderElementsOf(onDisk);
    for (String f : KernelSources.FILES) {
      assertThat(KernelSources.kernelNames(KernelSources.read(f))).as(f).isNotEmpty();
    }
  }

  /** Kernel name → number of parameters, parsed from the sources. */
  private static Map<String, Integer> kernelArity() {
    Pattern def = Pattern.compile("extern \"C\" __global__ void (\\w+)\\s*\\(([^)]*)\\)", Pattern.DOTALL);
    Map<String, Integer> arity = new HashMap<>();
    for (String src : KernelSources.all().values()) {
      Matcher m = def.matcher(src);
      while (m.find()) arity.put(m.group(1), m.group(2).isBlank() ? 0 : m.group(2).split(",").length);
    }
    return arity;
  }

  /** Splits a call's argument text at top-level commas. */
  private static List<String> topLevelArgs(String s) {
    List<String> out = new ArrayList<>();
    int depth = 0, from = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '(') depth++;
      else if (c == ')') depth--;
      else if (c == ',' && depth == 0) {
        out.add(s.substring(from, i).trim());
        from = i + 1;
      }
    }
    out.add(s.substring(from).trim());
    return out;
  }

  @Test
  void everyLaunchNamesAKernelWithMatchingArgumentCount() throws IOException {
    StringBuilder all = new StringBuilder();
    try (Stream<Path> files = Files.list(SOURCES)) {
      for (Path f : files.filter(p -> p.toString().endsWith(".java")).sorted().toList()) all.append(Files.readString(f)).append('\n');
    }
    String java = all.toString();
    Map<String, Integer> arity = kernelArity();
    Pattern launch = Pattern.compile("dev\\.launch\\(\"(\\w+)\",");
    Matcher m = launch.matcher(java);
    int launches = 0;
    while (m.find()) {
      // the call's text up to its closing parenthesis
      int depth = 1, i = m.end();
      while (depth > 0) {
        char c = java.charAt(i++);
        if (c == '(') depth++;
        else if (c == ')') depth--;
      }
      List<String> args = topLevelArgs(java.substring(m.end(), i - 1));
      String kernel = m.group(1);
      assertThat(arity).as("kernel %s launched from the cuda package", kernel).containsKey(kernel);
      // launch(name, gridX, gridY, block, sharedBytes, kernel arguments...)
      assertThat(args.size() - 4).as("arguments passed to %s", kernel).isEqualTo(arity.get(kernel));
      launches++;
    }
    assertThat(launches).isGreaterThan(20);
    java.util.Set<String> launched = new java.util.HashSet<>();
    Matcher names = launch.matcher(java);
    while (names.find()) launched.add(names.group(1));
    assertThat(launched).as("every kernel is launched somewhere").containsExactlyInAnyOrderElementsOf(arity.keySet());
  }
}
