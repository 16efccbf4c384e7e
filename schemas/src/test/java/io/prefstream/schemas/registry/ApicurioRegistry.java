package io.prefstream.schemas.registry;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real Apicurio Registry (in-memory storage) in a child JVM on free loopback ports, for tests. The
 * build unpacks {@code io.apicurio:apicurio-registry-app:tar.gz:all} into the folder named by the
 * {@code prefstream.apicurio.dir} system property. {@link #ccompatUrl()} is its Confluent-compatible API.
 * Closing stops the whole process tree.
 */
public final class ApicurioRegistry implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ApicurioRegistry.class);
  private static final Duration STARTUP_LIMIT = Duration.ofSeconds(90);

  private final Process process;
  private final Path logFile;
  private final String ccompatUrl;

  private ApicurioRegistry(Process process, Path logFile, String ccompatUrl) {
    this.process = process;
    this.logFile = logFile;
    this.ccompatUrl = ccompatUrl;
  }

  public static ApicurioRegistry start() throws IOException {
    Path dir = Path.of(System.getProperty("prefstream.apicurio.dir", "target/apicurio")).toAbsolutePath();
    Path jar = dir.resolve("quarkus-run.jar");
    if (!Files.isRegularFile(jar)) {
      throw new IllegalStateException(jar + " is missing; the schemas build unpacks Apicurio Registry there in "
          + "process-test-resources (run the tests through Maven)");
    }
    int port = freePort();
    int managementPort = freePort();
    Path logFile = Path.of(System.getProperty("java.io.tmpdir")).resolve("apicurio-" + port + ".log");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> command = List.of(java,
        // Small and quick to start: C1 only, serial GC, little heap; it holds a handful of schemas.
        "-Xmx384m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
        "-Dquarkus.http.port=" + port, "-Dquarkus.http.host=127.0.0.1",
        "-Dquarkus.management.port=" + managementPort, "-Dquarkus.management.host=127.0.0.1",
        "-jar", jar.toString());
    long t0 = System.nanoTime();
    Process process = new ProcessBuilder(command)
        .directory(dir.toFile())
        .redirectErrorStream(true)
        .redirectOutput(logFile.toFile())
        .start();
    String url = "http://127.0.0.1:" + port + "/apis/ccompat/v7";
    ApicurioRegistry registry = new ApicurioRegistry(process, logFile, url);
    try (HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build()) {
      await("Apicurio Registry ready at " + url)
          .atMost(STARTUP_LIMIT)
          .pollInterval(Duration.ofMillis(250))
          .failFast("Apicurio Registry exited; log: " + logFile, () -> !process.isAlive())
          // Connection refused until it listens: keep polling.
          .ignoreExceptionsInstanceOf(IOException.class)
          .until(() -> {
            HttpRequest ping = HttpRequest.newBuilder(URI.create(url + "/subjects")).timeout(Duration.ofSeconds(2)).build();
            return http.send(ping, HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
          });
    } catch (RuntimeException e) {
      registry.close();
      throw new IllegalStateException("Apicurio Registry did not become ready in " + STARTUP_LIMIT + "; log: " + logFile, e);
    }
    log.info("Apicurio Registry up at {} in {} ms", url, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
    return registry;
  }

  /** The base URL of the Confluent-compatible API. */
  public String ccompatUrl() {
    return ccompatUrl;
  }

  public Path logFile() {
    return logFile;
  }

  @Override
  public void close() {
    process.descendants().forEach(ProcessHandle::destroy);
    process.destroy();
    try {
      if (!process.waitFor(15, TimeUnit.SECONDS)) {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      process.destroyForcibly();
    }
  }

  private static int freePort() {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
