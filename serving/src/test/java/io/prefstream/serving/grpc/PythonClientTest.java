package io.prefstream.serving.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.serving.Fixture;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An independent client, Python with Debian's {@code python3-grpcio} and hand-encoded protobuf,
 * calls Generate on a running Netty server. Skipped where that package is not installed
 * ({@code apt-get install python3-grpcio}).
 */
class PythonClientTest {
  static final String PYTHON = "/usr/bin/python3";

  @TempDir Path root;

  static boolean pythonGrpcPresent() {
    try {
      Process p = new ProcessBuilder(PYTHON, "-c", "import grpc").redirectErrorStream(true).start();
      p.getInputStream().readAllBytes();
      return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
    } catch (Exception e) {
      return false;
    }
  }

  @Test
  void pythonGrpcioClientGetsAGenerationNamingPolicyVersionAndResponseId() throws Exception {
    Assumptions.assumeTrue(pythonGrpcPresent(), PYTHON + " has no grpc module (apt-get install python3-grpcio)");
    Fixture fx = new Fixture(root);
    Path script = root.resolve("generate_client.py");
    try (InputStream in = PythonClientTest.class.getResourceAsStream("/python/generate_client.py")) {
      Files.write(script, in.readAllBytes());
    }
    try (TestServer ts = new TestServer(fx, TestServer.config(), RolloutMode.AUTO, true)) {
      ts.feed.publishUpdate(fx.writeVersion("default", 1, 0.8));
      await().atMost(Duration.ofSeconds(20)).until(() -> ts.registry.status("default").servingVersion() == 1);
      Process p = new ProcessBuilder(PYTHON, script.toString(), "127.0.0.1:" + ts.server.port(), "Hello from Python", "5")
          .redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
      assertThat(p.exitValue()).as(out).isZero();
      JsonNode r = new ObjectMapper().readTree(out);
      assertThat(r.get("policy_id").asText()).isEqualTo("default");
      assertThat(r.get("version").asLong()).isEqualTo(1);
      assertThat(r.get("response_id").asText()).hasSize(36);
      assertThat(r.get("prompt_tokens").asInt()).isEqualTo(fx.base.tokenizer().encode("Hello from Python", true).length);
      assertThat(r.get("completion_tokens").asInt()).isBetween(1, 5);
      assertThat(r.get("finish_reason").asText()).isIn("length", "eos");
    }
  }
}
