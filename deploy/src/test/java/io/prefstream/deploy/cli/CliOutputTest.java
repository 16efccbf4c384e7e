package io.prefstream.deploy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a user sees: each command runs in a fresh JVM with the production logging config (the test
 * classes, and so logback-test.xml, are left off its class path) and its stdout and stderr are
 * compared line by line. A command prints its own lines only (no DJL CUDA probe, no device line
 * twice, no library INFO), and a bad model directory is named with what to pass instead, before
 * anything (a broker) starts. The JVM's own incubator warning is the launchers' to drop (DistributionIT
 * checks the launcher); here it is the one line removed before comparing.
 */
class CliOutputTest {
  private static final String INCUBATOR_WARNING = "WARNING: Using incubator modules: jdk.incubator.vector";

  record Run(int exitCode, List<String> out, List<String> err) {}

  @TempDir Path tmp;

  @Test
  void versionPrintsTwoLinesAndNothingElse() throws Exception {
    Run r = prefstream("--version");
    assertThat(r.exitCode()).isZero();
    assertThat(r.out()).hasSize(2);
    assertThat(r.out().get(0)).startsWith("prefstream ");
    assertThat(r.out().get(1)).startsWith("Java 25");
    assertThat(r.err()).isEmpty();
  }

  @Test
  void learnWithAMissingModelDirectorySaysWhatToPassAndStartsNothing() throws Exception {
    Path missing = tmp.resolve("no-such-model");
    Run r = prefstream("learn", "--model", missing.toString(), "--embedded-port", "0");
    assertThat(r.exitCode()).isEqualTo(2);
    assertThat(r.out()).isEmpty();
    assertThat(r.err()).containsExactly(
        "prefstream learn: model directory " + missing + " does not exist: pass --model DIR of " + ModelDirectory.EXPECTED,
        "Run `prefstream learn --help` for its options.");
  }

  @Test
  void generateWithADirectoryThatIsNoModelNamesTheMissingFile() throws Exception {
    Path dir = Files.createDirectories(tmp.resolve("not-a-model"));
    Run r = prefstream("generate", "--model", dir.toString(), "--prompt", "hi");
    assertThat(r.exitCode()).isEqualTo(2);
    assertThat(r.err()).first().isEqualTo(
        "prefstream generate: model directory " + dir + " has no config.json: pass --model DIR of " + ModelDirectory.EXPECTED);
  }

  @Test
  void generatePrintsTheReplyOnStdoutAndOnlyTheDeviceLineOnStderr() throws Exception {
    Run r = prefstream("generate", "--model", bundledModel().toString(), "--prompt", "Where is my order?",
        "--max-new-tokens", "4", "--device", "cpu");
    assertThat(r.exitCode()).as(String.join("\n", r.err())).isZero();
    assertThat(String.join("", r.out())).isNotBlank();
    assertThat(r.err()).containsExactly("device: cpu (requested)");
  }

  @Test
  void anUnknownOptionIsOneLineAndAPointerToHelpNotTheWholeUsage() throws Exception {
    Run r = prefstream("serve", "--model", bundledModel().toString(), "--frobnicate");
    assertThat(r.exitCode()).isEqualTo(2);
    assertThat(r.err()).containsExactly("prefstream serve: Unknown option: '--frobnicate'",
        "Run `prefstream serve --help` for its options.");
  }

  private static Path bundledModel() {
    return Path.of("..", "models", "assistant-tiny").toAbsolutePath().normalize();
  }

  /** Runs the CLI in a fresh JVM with the project's JVM flags and the main (not test) class path. */
  private Run prefstream(String... args) throws Exception {
    String java = ProcessHandle.current().info().command().orElseThrow();
    String classPath = Arrays.stream(System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"))
            .split(File.pathSeparator))
        .filter(e -> !e.endsWith("test-classes"))
        .collect(Collectors.joining(File.pathSeparator));
    List<String> command = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector",
        "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-cp", classPath,
        "io.prefstream.deploy.cli.Main"));
    command.addAll(List.of(args));
    Path out = tmp.resolve("stdout");
    Path err = tmp.resolve("stderr");
    ProcessBuilder pb = new ProcessBuilder(command).directory(tmp.toFile())
        .redirectOutput(out.toFile()).redirectError(err.toFile())
        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
    pb.environment().keySet().removeIf(k -> k.startsWith("PREFSTREAM_"));
    pb.environment().put("DJL_CACHE_DIR", Path.of("target", "djl-cache").toAbsolutePath().toString());
    Process p = pb.start();
    if (!p.waitFor(120, TimeUnit.SECONDS)) {
      p.destroyForcibly().waitFor();
      throw new AssertionError("prefstream " + String.join(" ", args) + " did not finish in 120 s");
    }
    List<String> errLines = Files.readAllLines(err, StandardCharsets.UTF_8).stream()
        .filter(l -> !l.equals(INCUBATOR_WARNING)).toList();
    return new Run(p.exitValue(), Files.readAllLines(out, StandardCharsets.UTF_8), errLines);
  }
}
