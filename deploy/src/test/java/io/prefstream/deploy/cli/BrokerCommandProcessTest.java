package io.prefstream.deploy.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.prefstream.deploy.kafka.RoundTrip;
import io.prefstream.schemas.topic.TopicSpec;
import io.prefstream.schemas.topic.Topics;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * {@code prefstream broker} end to end, as a user runs it: a child JVM on a free port whose address
 * is read from its stdout, independent clients (the Java clients, and kcat when installed) that
 * produce and consume through it, and a SIGTERM that stops it cleanly.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class BrokerCommandProcessTest {
  private Process broker;
  private Path stderr;
  private String address;

  @BeforeAll
  void startBrokerCommand() throws Exception {
    Path tmp = Path.of(System.getProperty("java.io.tmpdir"));
    Files.createDirectories(tmp);
    stderr = Files.createTempFile(tmp, "broker-command-", ".log");
    Path dataDir = Files.createTempDirectory(tmp, "broker-command-data-");
    List<String> command = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Djava.io.tmpdir=" + tmp,
        "-cp", System.getProperty("java.class.path"),
        Main.class.getName(), "broker", "--port", "0", "--data-dir", dataDir.toString()));
    broker = new ProcessBuilder(command).redirectError(stderr.toFile()).start();
    BufferedReader out = new BufferedReader(new InputStreamReader(broker.getInputStream(), StandardCharsets.UTF_8));
    address = CompletableFuture.supplyAsync(() -> readLine(out)).get(90, TimeUnit.SECONDS);
  }

  private static String readLine(BufferedReader reader) {
    try {
      return reader.readLine();
    } catch (IOException e) {
      throw new IllegalStateException("reading the broker command's stdout failed", e);
    }
  }

  @AfterAll
  void stopBrokerCommand() throws Exception {
    if (broker != null && broker.isAlive()) {
      broker.destroyForcibly();
      broker.waitFor(30, TimeUnit.SECONDS);
    }
  }

  @Test
  @Order(1)
  void printsItsLoopbackAddressAndCreatesTheProjectTopics() throws Exception {
    assertThat(address).as("first stdout line; stderr:%n%s", Files.readString(stderr)).matches("127\\.0\\.0\\.1:\\d+");
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, address))) {
      assertThat(admin.listTopics().names().get(30, TimeUnit.SECONDS))
          .containsAll(Topics.all((short) 1).stream().map(TopicSpec::name).toList());
    }
  }

  @Test
  @Order(2)
  void javaClientsProduceAndConsumeThroughIt() throws Exception {
    RoundTrip.produce(address, Topics.EVENTS, Map.of("policy-a", "{\"hello\":\"broker\"}"));

    List<ConsumerRecord<String, String>> records = RoundTrip.consume(address, Topics.EVENTS, 1);
    assertThat(records).extracting(ConsumerRecord::key).containsExactly("policy-a");
    assertThat(records).extracting(ConsumerRecord::value).containsExactly("{\"hello\":\"broker\"}");
  }

  @Test
  @Order(3)
  void kcatProducesAndConsumesThroughIt() throws Exception {
    Assumptions.assumeTrue(onPath("kcat"), "kcat not installed (Debian package kcat); the Java-client test covers the broker");

    String metadata = runKcat("", "-b", address, "-L");
    assertThat(metadata).contains(Topics.CONTROL).contains("1 brokers");

    runKcat("pause:from-kcat\n", "-b", address, "-P", "-t", Topics.CONTROL, "-p", "0", "-K:");
    RoundTrip.produce(address, Topics.CONTROL, Map.of("resume", "from-java"));

    String consumed = runKcat("", "-b", address, "-C", "-t", Topics.CONTROL, "-p", "0",
        "-o", "beginning", "-c", "2", "-e", "-q", "-f", "%k=%s\n");
    assertThat(consumed.lines()).containsExactly("pause=from-kcat", "resume=from-java");
    assertThat(RoundTrip.consume(address, Topics.CONTROL, 2))
        .extracting(ConsumerRecord::value).containsExactly("from-kcat", "from-java");
  }

  @Test
  @Order(4)
  void stopsCleanlyOnSigterm() throws Exception {
    broker.destroy(); // SIGTERM, as from `kill` or a container runtime; Ctrl-C takes the same path.

    assertThat(broker.waitFor(60, TimeUnit.SECONDS)).as("broker process exited").isTrue();
    // 143 = 128 + SIGTERM: the JVM ran its shutdown hooks and exited on the signal.
    assertThat(broker.exitValue()).isEqualTo(143);
    String log = Files.readString(stderr);
    assertThat(log).contains("Stopping the broker").contains("stopped in");
    assertThat(log).doesNotContain("ERROR", "Exception");
    String port = address.substring(address.indexOf(':') + 1);
    await().atMost(Duration.ofSeconds(10)).until(() -> canBind(Integer.parseInt(port)));
  }

  private static boolean canBind(int port) {
    try (var socket = new java.net.ServerSocket()) {
      socket.bind(new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), port));
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static boolean onPath(String program) {
    String path = System.getenv("PATH");
    if (path == null) return false;
    for (String dir : path.split(java.io.File.pathSeparator)) {
      if (Files.isExecutable(Path.of(dir, program))) return true;
    }
    return false;
  }

  private static String runKcat(String stdin, String... args) throws Exception {
    List<String> command = new ArrayList<>();
    command.add("kcat");
    command.addAll(List.of(args));
    Process kcat = new ProcessBuilder(command).redirectErrorStream(true).start();
    kcat.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
    kcat.getOutputStream().close();
    CompletableFuture<String> output = CompletableFuture.supplyAsync(() -> {
      try {
        return new String(kcat.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
    });
    assertThat(kcat.waitFor(30, TimeUnit.SECONDS)).as("kcat %s finished", command).isTrue();
    String text = output.get(5, TimeUnit.SECONDS);
    assertThat(kcat.exitValue()).as("kcat %s exit code; output:%n%s", command, text).isZero();
    return text;
  }
}
