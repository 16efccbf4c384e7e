package io.prefstream.serving.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.prefstream.model.text.ChatMessage;
import io.prefstream.model.text.SequenceEncoder;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.avro.Rating;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.avro.Thumb;
import io.prefstream.serving.Fixture;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Independent clients in Python on a running Netty server: Generate with Debian's
 * {@code python3-grpcio} and hand-encoded protobuf; Chat, ChatStream and feedback by response id
 * through stubs that Debian's {@code python3-grpc-tools} generates from the project's .proto files
 * (the way a Python user would call the API). Each is skipped where its package is not installed.
 */
class PythonClientTest {
  static final String PYTHON = "/usr/bin/python3";

  @TempDir Path root;

  static boolean pythonGrpcPresent() {
    return pythonImports("import grpc");
  }

  static boolean pythonImports(String statement) {
    try {
      Process p = new ProcessBuilder(PYTHON, "-c", statement).redirectErrorStream(true).start();
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
    try (TestServer ts = new TestServer(fx, TestServer.config(), RolloutMode.AUTO, true).servingTrainedVersion(fx)) {
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

  @Test
  void pythonStubsGeneratedFromTheProtosChatStreamAndSendFeedbackByResponseId() throws Exception {
    Assumptions.assumeTrue(pythonImports("import grpc, grpc_tools.protoc"),
        PYTHON + " lacks grpc or grpc_tools (apt-get install python3-grpcio python3-grpc-tools)");
    Fixture fx = Fixture.withAssistantTemplate(root.resolve("fx"));
    Path script = root.resolve("chat_client.py");
    try (InputStream in = PythonClientTest.class.getResourceAsStream("/python/chat_client.py")) {
      Files.write(script, in.readAllBytes());
    }
    // The .proto files as the schemas module ships them (on the class path beside the generated classes).
    Path protos = root.resolve("protos");
    Files.createDirectories(protos.resolve("prefstream/v1"));
    for (String f : List.of("common", "generation", "feedback", "rollout")) {
      try (InputStream in = PythonClientTest.class.getResourceAsStream("/prefstream/v1/" + f + ".proto")) {
        assertThat(in).as(f + ".proto on the class path").isNotNull();
        Files.write(protos.resolve("prefstream/v1/" + f + ".proto"), in.readAllBytes());
      }
    }
    try (TestServer ts = new TestServer(fx, TestServer.config(), RolloutMode.AUTO, true)) {
      Process p = new ProcessBuilder(PYTHON, script.toString(), "127.0.0.1:" + ts.server.port(), protos.toString(),
          Files.createDirectories(root.resolve("py-work")).toString(), "Hello from Python", "5")
          .redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
      assertThat(p.exitValue()).as(out).isZero();
      JsonNode r = new ObjectMapper().readTree(out.substring(out.lastIndexOf("\n{") + 1));
      String rendered = SequenceEncoder.unlimited(fx.base.tokenizer()).renderPrompt(List.of(ChatMessage.user("Hello from Python")));
      assertThat(r.get("rendered_prompt").asText()).isEqualTo(rendered);
      assertThat(r.get("policy_id").asText()).isEqualTo("default");
      assertThat(r.get("text").asText()).isEqualTo(fx.greedy(r.get("version").asLong(), rendered, 5));
      assertThat(r.get("stream_text").asText()).isEqualTo(r.get("text").asText());
      assertThat(r.get("stream_finished").asBoolean()).isTrue();
      assertThat(r.get("stream_rendered_prompt").asText()).isEqualTo(rendered);
      assertThat(r.at("/empty_error/code").asText()).isEqualTo("INVALID_ARGUMENT");
      assertThat(r.at("/empty_error/details").asText()).startsWith("messages: ");

      PreferenceEvent e = ts.sink.events().stream().map(k -> k.event())
          .filter(ev -> ev.getEventId().equals(r.get("event_id").asText())).findFirst().orElseThrow();
      assertThat(e.getPrompt()).isEqualTo(rendered);
      assertThat(e.getPromptMessages()).containsExactly(new io.prefstream.schemas.avro.ChatMessage("user", "Hello from Python"));
      assertThat(e.getFeedback()).isEqualTo(new Thumb(r.get("text").asText(), Rating.UP));
    }
  }
}
