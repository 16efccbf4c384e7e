package io.prefstream.schemas.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.serde.DecodeException;
import io.prefstream.schemas.serde.DecodeFailure;
import io.prefstream.schemas.serde.Encoding;
import io.prefstream.schemas.serde.PreferenceEventDecoder;
import org.apache.avro.Schema;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Retries, timeouts and error reporting of {@link SchemaRegistryClient} against a real HTTP server (the
 * JDK's) that answers each request from a script: fail this many times, then serve.
 */
class RegistryClientRetryTest {
  private static final String SCHEMA_ANSWER = "{\"schema\":" + quote(PreferenceEvent.getClassSchema().toString()) + "}";

  private HttpServer server;
  private ExecutorService executor;
  private final AtomicInteger requests = new AtomicInteger();
  private final List<String> answers = new ArrayList<>(); // "STATUS body", consumed in order, the last repeats
  private final CountDownLatch release = new CountDownLatch(1);

  @BeforeEach
  void startServer() throws IOException {
    executor = Executors.newCachedThreadPool();
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.setExecutor(executor);
    server.createContext("/", this::answer);
    server.start();
  }

  @AfterEach
  void stopServer() throws InterruptedException {
    release.countDown();
    server.stop(0);
    executor.shutdownNow();
    assertThat(executor.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
  }

  private void answer(HttpExchange exchange) throws IOException {
    int n = requests.getAndIncrement();
    String script;
    synchronized (answers) {
      script = answers.get(Math.min(n, answers.size() - 1));
    }
    try (exchange) {
      if (script.equals("HANG")) {
        // Answer only when the test ends: the client must give up on its own timeout.
        release.await(30, TimeUnit.SECONDS);
        return;
      }
      int space = script.indexOf(' ');
      byte[] body = script.substring(space + 1).getBytes(StandardCharsets.UTF_8);
      exchange.getResponseHeaders().add("Content-Type", "application/vnd.schemaregistry.v1+json");
      exchange.sendResponseHeaders(Integer.parseInt(script.substring(0, space)), body.length);
      exchange.getResponseBody().write(body);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void script(String... steps) {
    synchronized (answers) {
      answers.addAll(List.of(steps));
    }
  }

  // A generous request timeout: on a loaded 2-core CI machine the scripted server can take a while
  // to answer, and only the silent-registry test is about timing out.
  private SchemaRegistryClient client(int attempts) {
    return client(attempts, Duration.ofSeconds(15));
  }

  private SchemaRegistryClient client(int attempts, Duration requestTimeout) {
    String url = "http://127.0.0.1:" + server.getAddress().getPort() + "/apis/ccompat/v7/";
    return new SchemaRegistryClient(RegistryConfig.of(url)
        .withTimeouts(Duration.ofSeconds(5), requestTimeout)
        .withRetries(attempts, Duration.ofMillis(10), Duration.ofMillis(40)));
  }

  @Test
  void retriesServerErrorsThenSucceeds() {
    script("503 {\"error_code\":50301,\"message\":\"warming up\"}", "502 <html>bad gateway</html>", "200 " + SCHEMA_ANSWER);
    try (SchemaRegistryClient client = client(4)) {
      assertThat(client.schemaById(7)).isEqualTo(PreferenceEvent.getClassSchema());
    }
    assertThat(requests).hasValue(3);
  }

  @Test
  void retriesTooManyRequests() {
    script("429 {\"message\":\"slow down\"}", "200 " + SCHEMA_ANSWER);
    try (SchemaRegistryClient client = client(3)) {
      assertThat(client.schemaById(7).getName()).isEqualTo("PreferenceEvent");
    }
    assertThat(requests).hasValue(2);
  }

  @Test
  void givesUpAfterMaxAttemptsWithTheRegistrysMessage() {
    script("500 {\"error_code\":50001,\"message\":\"storage is down\"}");
    try (SchemaRegistryClient client = client(3)) {
      RegistryException e = catchThrowableOfType(RegistryException.class, () -> client.schemaById(7));
      assertThat(e.status()).isEqualTo(500);
      assertThat(e.errorCode()).isEqualTo(50001);
      assertThat(e.attempts()).isEqualTo(3);
      assertThat(e.isUnavailable()).isTrue();
      assertThat(e.getMessage()).contains("/apis/ccompat/v7/schemas/ids/7", "HTTP 500", "storage is down", "after 3 attempts");
    }
    assertThat(requests).hasValue(3);
  }

  @Test
  void doesNotRetryClientErrors() {
    script("404 {\"error_code\":40403,\"message\":\"Schema 7 not found.\"}");
    try (SchemaRegistryClient client = client(4)) {
      RegistryException e = catchThrowableOfType(RegistryException.class, () -> client.schemaById(7));
      assertThat(e.isNotFound()).isTrue();
      assertThat(e.errorCode()).isEqualTo(RegistryException.SCHEMA_NOT_FOUND);
      assertThat(e.attempts()).isEqualTo(1);
      assertThat(e.getMessage()).contains("HTTP 404", "Schema 7 not found.");
    }
    assertThat(requests).hasValue(1);
  }

  @Test
  void timesOutASilentRegistryAndRetries() {
    script("HANG");
    try (SchemaRegistryClient client = client(2, Duration.ofMillis(500))) {
      RegistryException e = catchThrowableOfType(RegistryException.class, () -> client.schemaById(7));
      assertThat(e.status()).isEqualTo(-1);
      assertThat(e.getCause()).isInstanceOf(HttpTimeoutException.class);
      assertThat(e.attempts()).isEqualTo(2);
      assertThat(e.getMessage()).contains("no response", "after 2 attempts");
    }
    assertThat(requests).hasValue(2);
  }

  @Test
  void cachesSchemasById() {
    script("200 " + SCHEMA_ANSWER);
    try (SchemaRegistryClient client = client(1)) {
      Schema first = client.schemaById(7);
      assertThat(client.schemaById(7)).isSameAs(first);
    }
    assertThat(requests).hasValue(1);
  }

  @Test
  void answerThatIsNotAnAvroSchemaIsAClearError() {
    script("200 {\"schemaType\":\"PROTOBUF\",\"schema\":\"syntax = \\\"proto3\\\";\"}", "200 not json");
    try (SchemaRegistryClient client = client(1)) {
      assertThat(catchThrowableOfType(RegistryException.class, () -> client.schemaById(1)).getMessage())
          .contains("PROTOBUF", "expected AVRO", "/schemas/ids/1");
      assertThat(catchThrowableOfType(RegistryException.class, () -> client.schemaById(2)).getMessage())
          .contains("not JSON", "/schemas/ids/2");
    }
  }

  @Test
  void unreachableRegistryFailsAfterBoundedRetries() throws IOException {
    int closedPort;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      closedPort = s.getLocalPort();
    }
    RegistryConfig config = RegistryConfig.of("http://127.0.0.1:" + closedPort)
        .withRetries(3, Duration.ofMillis(10), Duration.ofMillis(20));
    try (SchemaRegistryClient client = new SchemaRegistryClient(config)) {
      RegistryException e = catchThrowableOfType(RegistryException.class, () -> client.schemaById(1));
      assertThat(e.status()).isEqualTo(-1);
      assertThat(e.attempts()).isEqualTo(3);
      assertThat(e.getMessage()).contains("127.0.0.1:" + closedPort, "no response");

      DecodeException d = catchThrowableOfType(DecodeException.class,
          () -> new PreferenceEventDecoder(client).decode(new byte[] {0, 0, 0, 0, 1, 2, 'x'}));
      assertThat(d.encoding()).isEqualTo(Encoding.CONFLUENT);
      assertThat(d.reason()).isEqualTo(DecodeFailure.REGISTRY_UNAVAILABLE);
      assertThat(d.reason().isDataError()).isFalse();
      assertThat(d.getMessage()).contains("schema id 1", "127.0.0.1:" + closedPort);
    }
  }

  @Test
  void decoderReportsRegistryErrorsAsTypedFailures() {
    script("404 {\"error_code\":40403,\"message\":\"Schema 9 not found.\"}", "503 {\"message\":\"down\"}");
    try (SchemaRegistryClient client = client(2)) {
      PreferenceEventDecoder decoder = new PreferenceEventDecoder(client);
      DecodeException unknown = catchThrowableOfType(DecodeException.class, () -> decoder.decode(new byte[] {0, 0, 0, 0, 9, 2}));
      assertThat(unknown.reason()).isEqualTo(DecodeFailure.UNKNOWN_SCHEMA);
      assertThat(unknown.getMessage()).contains("schema id 9", "Schema 9 not found.");
      DecodeException down = catchThrowableOfType(DecodeException.class, () -> decoder.decode(new byte[] {0, 0, 0, 0, 8, 2}));
      assertThat(down.reason()).isEqualTo(DecodeFailure.REGISTRY_UNAVAILABLE);
    }
  }

  private static String quote(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }
}
