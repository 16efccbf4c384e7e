package io.prefstream.deploy.dist;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The container image tarball Jib wrote (docker-load format: manifest.json, the config, one gzipped
 * tar per layer) is the image operators run: its config starts the CLI on the bundled runtime with the
 * project's JVM flags as a non-root user, exposes the gRPC and metrics ports, and its layers hold the
 * runtime, the system libraries it links against, the jars (in their own layers) and the model. Where
 * this machine can (root, unshare, mount, chroot), the layers are unpacked into a root file system and
 * the image's entrypoint runs there as that user with no network, as a container runtime would run it.
 * Nothing here needs a container daemon (none can run here).
 */
class ImageIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  @TempDir static Path tmp;
  static JsonNode config;
  /** Every path in the image (no leading slash) with its tar mode, the last layer winning. */
  static final Map<String, Integer> files = new HashMap<>();
  static final List<String> layers = new ArrayList<>();
  static Path rootfs;

  @BeforeAll
  static void unpack() throws Exception {
    Path image = Path.of(System.getProperty("prefstream.image.tar"));
    assertThat(image).as("the dist profile's image tarball").exists();
    Path x = Files.createDirectories(tmp.resolve("image"));
    run(List.of("tar", "-xf", image.toString(), "-C", x.toString()));
    JsonNode manifest = JSON.readTree(x.resolve("manifest.json").toFile()).get(0);
    config = JSON.readTree(x.resolve(manifest.get("Config").asText()).toFile());
    rootfs = Files.createDirectories(tmp.resolve("rootfs"));
    for (JsonNode layer : manifest.get("Layers")) {
      layers.add(layer.asText());
      Path tgz = x.resolve(layer.asText());
      for (String line : run(List.of("tar", "--warning=no-unknown-keyword", "--numeric-owner", "-tvzf", tgz.toString())).lines().toList()) {
        // -rwxr-xr-x 0/0  16264 1970-01-01 00:00 opt/prefstream/runtime/bin/java
        String[] f = line.split("\\s+", 6);
        assertThat(f[1]).as("owner of " + f[5]).isEqualTo("0/0");
        files.put(f[5].replaceFirst("^\\./", "").replaceFirst("/$", "").split(" -> ")[0], mode(f[0]));
      }
      run(List.of("tar", "--warning=no-unknown-keyword", "-xzf", tgz.toString(), "-C", rootfs.toString()));
    }
  }

  @Test
  void entrypointRunsTheCliOnTheBundledRuntimeWithTheProjectsJvmFlags() throws Exception {
    JsonNode c = config.get("config");
    List<String> entrypoint = strings(c.get("Entrypoint"));
    assertThat(entrypoint.getFirst()).isEqualTo("/opt/prefstream/runtime/bin/java");
    assertThat(entrypoint.getLast()).isEqualTo("io.prefstream.deploy.cli.Main");
    String flags = Files.readString(Path.of("target", "jvm.flags")).trim();
    assertThat(String.join(" ", entrypoint)).contains(flags);
    assertThat(strings(c.get("Cmd"))).containsExactly("--help");
    assertThat(files).containsKey("app/jib-classpath-file");
    for (String entry : Files.readString(rootfs.resolve("app/jib-classpath-file")).trim().split(":")) {
      String path = entry.substring(1);
      if (path.endsWith("/*")) {
        String dir = path.substring(0, path.length() - 1);
        assertThat(files.keySet()).as("class path entry " + entry).anyMatch(f -> f.startsWith(dir) && f.endsWith(".jar"));
      } else {
        assertThat(files).as("class path entry " + entry).containsKey(path);
      }
    }
  }

  @Test
  void runsAsANonRootUserWithAWritableHomeAndTmp() {
    JsonNode c = config.get("config");
    assertThat(c.get("User").asText()).isEqualTo("65532:65532");
    assertThat(c.get("WorkingDir").asText()).isEqualTo("/var/lib/prefstream");
    assertThat(strings(c.get("Env"))).contains("HOME=/var/lib/prefstream", "DJL_CACHE_DIR=/tmp/djl",
        "PREFSTREAM_CONFIG=/opt/prefstream/conf/prefstream.properties");
    assertThat(files.get("tmp") & 0777).isEqualTo(0777);
    assertThat(files.get("var/lib/prefstream") & 0777).isEqualTo(0777);
    assertThat(c.get("Volumes").has("/var/lib/prefstream")).isTrue();
  }

  @Test
  void exposesGrpcAndMetricsPorts() {
    List<String> ports = new ArrayList<>();
    config.get("config").get("ExposedPorts").fieldNames().forEachRemaining(ports::add);
    assertThat(ports).contains("50051/tcp", "9400/tcp", "9401/tcp", "9402/tcp");
  }

  @Test
  void layersHoldTheRuntimeItsSystemLibrariesTheJarsAndTheModel() throws IOException {
    assertThat(files.get("opt/prefstream/runtime/bin/java") & 0111).as("java is executable").isEqualTo(0111);
    assertThat(files).containsKeys("opt/prefstream/runtime/lib/server/libjvm.so", "lib64/ld-linux-x86-64.so.2",
        "lib/x86_64-linux-gnu/libc.so.6", "lib/x86_64-linux-gnu/libstdc++.so.6", "lib/x86_64-linux-gnu/libgcc_s.so.1",
        "opt/prefstream/models/assistant-tiny/model.safetensors", "opt/prefstream/conf/prefstream.properties",
        "etc/passwd");
    assertThat(files.keySet()).anyMatch(f -> f.matches("app/libs/kafka-clients-.*\\.jar"));
    assertThat(files.keySet()).anyMatch(f -> f.matches("app/classpath/prefstream-deploy-.*\\.jar|app/classpath/prefstream\\.jar"));
    assertThat(files).doesNotContainKey("opt/prefstream/runtime/bin/javac");
    assertThat(Files.readString(rootfs.resolve("etc/passwd"))).contains(":65532:65532:");
    // Jib's split: the base (scratch) adds none; dependencies, resources, classes and each extra
    // directory are layers of their own, so a code change does not resend 160 MB of dependencies.
    assertThat(layers).hasSizeGreaterThanOrEqualTo(6);
  }

  @Test
  void theEntrypointRunsInTheImagesOwnRootFileSystemAsItsUserWithNoNetwork() throws Exception {
    assumeTrue(ProcessHandle.current().info().user().orElse("").equals("root") && Files.isExecutable(Path.of("/usr/sbin/chroot"))
        && Files.isExecutable(Path.of("/usr/bin/unshare")) && Files.isExecutable(Path.of("/usr/bin/mount")),
        "needs root, unshare, mount and chroot to run the image without a container runtime");
    Path probe = Files.createDirectories(tmp.resolve("probe"));
    assumeTrue(Proc.run(List.of("/usr/bin/unshare", "-m", "-p", "-f", "-n", "/usr/bin/mount", "-t", "tmpfs", "none",
        probe.toString()), tmp, 30).exitCode() == 0, "this machine allows no mount namespace (a container without"
        + " CAP_SYS_ADMIN): the image's layers are checked above, not run");
    Files.createDirectories(rootfs.resolve("proc"));
    Files.createDirectories(rootfs.resolve("dev"));
    JsonNode c = config.get("config");
    List<String> entry = new ArrayList<>(strings(c.get("Entrypoint")));
    entry.addAll(List.of("generate", "--model", "/opt/prefstream/models/assistant-tiny", "--prompt", "Where is my order?",
        "--max-new-tokens", "3", "--device", "cpu"));
    String inner = "/usr/bin/mount -t proc proc '" + rootfs + "/proc' && /usr/bin/mount --rbind /dev '" + rootfs + "/dev'"
        + " && cd '" + rootfs + "' && exec /usr/sbin/chroot --userspec=" + c.get("User").asText() + " '" + rootfs + "' "
        + String.join(" ", entry.stream().map(a -> "'" + a + "'").toList());
    List<String> command = new ArrayList<>(List.of("env", "-i"));
    command.addAll(strings(c.get("Env")));
    command.addAll(List.of("/usr/bin/unshare", "-m", "-p", "-f", "-n", "/bin/sh", "-c", inner));
    Proc.Result r = Proc.run(command, tmp, 180);
    assertThat(r.exitCode()).as(r.stdout() + r.stderr()).isZero();
    assertThat(r.stdout()).isNotBlank();
    assertThat(r.stderr()).contains("device: cpu (requested)");
  }

  private static List<String> strings(JsonNode array) {
    return StreamSupport.stream(array.spliterator(), false).map(JsonNode::asText).toList();
  }

  private static int mode(String perms) {
    int m = 0;
    for (int i = 1; i < 10; i++) m = (m << 1) | (perms.charAt(i) == '-' ? 0 : 1);
    return m;
  }

  private static String run(List<String> command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out;
    try (InputStream in = p.getInputStream()) {
      out = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
    assertThat(p.waitFor()).as(command + ": " + out).isZero();
    return out;
  }
}
