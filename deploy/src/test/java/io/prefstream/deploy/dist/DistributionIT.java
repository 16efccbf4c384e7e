package io.prefstream.deploy.dist;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.stream.Stream;
import java.io.Reader;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The distribution tarball runs on a machine without a JDK: unpacked into an empty directory, its
 * launcher runs {@code --version} and a 15-second demo under {@code env -i} (no JAVA_HOME, PATH of
 * /usr/bin:/bin only) from another empty directory, and, where the kernel allows a new network
 * namespace, with no network but loopback. Its runtime is the jlink'd one (exactly the listed modules,
 * no compiler), and the commands print their own lines only. Runs after {@code package} (failsafe).
 */
class DistributionIT {
  @TempDir static Path tmp;
  static Path home;

  @BeforeAll
  static void unpack() throws Exception {
    Path tarball = Path.of(System.getProperty("prefstream.dist.tarball"));
    assertThat(tarball).as("the dist profile's tarball").exists();
    Path into = Files.createDirectories(tmp.resolve("install"));
    Proc.Result untar = Proc.run(List.of("tar", "-xzf", tarball.toString(), "-C", into.toString()), into, 120);
    assertThat(untar.exitCode()).as(untar.stderr()).isZero();
    home = into.resolve("prefstream-" + System.getProperty("prefstream.dist.version"));
    assertThat(home.resolve("prefstream")).isExecutable();
  }

  @Test
  void bundlesAJlinkedRuntimeWithExactlyTheListedModules() throws Exception {
    Properties release = new Properties();
    try (Reader in = Files.newBufferedReader(home.resolve("runtime/release"))) {
      release.load(in);
    }
    List<String> modules = Arrays.asList(release.getProperty("MODULES").replace("\"", "").trim().split("\\s+"));
    assertThat(modules).contains(System.getProperty("prefstream.dist.modules").split(","));
    assertThat(modules).contains("jdk.incubator.vector").doesNotContain("jdk.compiler", "jdk.jdi", "jdk.jshell");
    assertThat(home.resolve("runtime/bin/javac")).doesNotExist();
    assertThat(home.resolve("conf/prefstream.properties")).isRegularFile();
    assertThat(home.resolve("models/assistant-tiny/config.json")).isRegularFile();
  }

  @Test
  void printsItsVersionWithNoJdkOnTheMachine() throws Exception {
    Path cwd = Files.createDirectories(tmp.resolve("version-cwd"));
    Proc.Result r = Proc.run(clean(cwd, List.of(home.resolve("prefstream").toString(), "--version")), cwd, 60);
    assertThat(r.exitCode()).as(r.stderr()).isZero();
    assertThat(r.stdout()).startsWith("prefstream " + System.getProperty("prefstream.dist.version") + "\n");
    assertThat(r.stderr()).as("no JVM or library warnings").isEmpty();
  }

  @Test
  void runsAShortDemoWithNoJdkAndNoNetwork() throws Exception {
    Path cwd = Files.createDirectories(tmp.resolve("demo-cwd"));
    Path report = cwd.resolve("report");
    List<String> demo = List.of(home.resolve("prefstream").toString(), "demo", "--duration", "15s", "--users", "4",
        "--port", "0", "--metrics-port", "0", "--device", "cpu", "--report-dir", report.toString());
    Proc.Result r = Proc.run(offline(clean(cwd, demo)), cwd, 240);
    assertThat(r.exitCode()).as(r.stdout() + r.stderr()).isZero();
    assertThat(r.stdout()).contains("liked replies:", "versions published", "report: ");
    assertThat(report.resolve("chart.png")).isNotEmptyFile();
    assertThat(report.resolve("summary.md")).isNotEmptyFile();
    // Its own lines only: the device it chose once, and nothing from the JVM or a library (DJL, Kafka,
    // Netty, gRPC); prefstream's own warnings may appear, by their logger io.prefstream (i.p.).
    List<String> err = r.stderr().lines().toList();
    assertThat(err).first().isEqualTo("device: cpu (requested)");
    assertThat(err).filteredOn(l -> l.startsWith("device:")).hasSize(1);
    assertThat(err).noneMatch(l -> l.startsWith("WARNING"));
    // The whole stderr on failure: a library's line is followed by its stack trace, which names the cause.
    assertThat(err).as("stderr:%n%s", r.stderr()).filteredOn(l -> l.matches("\\S+ +(TRACE|DEBUG|INFO|WARN|ERROR) +\\S+ - .*"))
        .allMatch(l -> l.matches("\\S+ +\\S+ +i\\.p\\..*"), "logged by io.prefstream");
  }

  /** The command under {@code env -i}: no JAVA_HOME, a minimal PATH, HOME in a fresh directory. */
  private static List<String> clean(Path cwd, List<String> command) {
    List<String> c = new ArrayList<>(List.of("env", "-i", "PATH=/usr/bin:/bin", "HOME=" + cwd.resolve("home")));
    c.addAll(command);
    return c;
  }

  /**
   * The command in a new network namespace with only loopback up, when this machine allows one
   * (root or unprivileged user namespaces); as it is otherwise.
   */
  private static List<String> offline(List<String> command) throws Exception {
    Path cwd = tmp;
    Path ip = Stream.of(Path.of("/usr/sbin/ip"), Path.of("/sbin/ip"), Path.of("/usr/bin/ip")).filter(Files::isExecutable)
        .findFirst().orElse(null);
    if (ip == null || Proc.run(List.of("unshare", "-n", ip.toString(), "link", "set", "lo", "up"), cwd, 10).exitCode() != 0) {
      return command;
    }
    List<String> c = new ArrayList<>(List.of("unshare", "-n", "sh", "-c", ip + " link set lo up && exec \"$@\"", "sh"));
    c.addAll(command);
    return c;
  }
}
