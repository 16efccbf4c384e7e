package io.prefstream.deploy.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.prefstream.deploy.kafka.EmbeddedKafka;
import io.prefstream.model.io.ModelInit;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.safetensors.DType;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** A replica without --checkpoint-cache fetches versions into a temporary folder, and deletes it when it stops. */
class ServeCleanupTest {
  @TempDir Path dir;

  private static Set<Path> caches() throws IOException {
    try (Stream<Path> s = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
      return s.filter(p -> p.getFileName().toString().startsWith("prefstream-checkpoint-cache-")).collect(Collectors.toSet());
    }
  }

  @Test
  void theTemporaryCheckpointCacheGoesWithTheReplica() throws Exception {
    Path model = dir.resolve("model");
    ModelInit.writeRandomModel(model, ModelPresets.tiny(), 5, List.of(), DType.F32);
    Set<Path> before = caches();
    try (EmbeddedKafka kafka = EmbeddedKafka.start(EmbeddedKafka.Options.defaults())) {
      CommandLine serve = Main.commandLine();
      StringWriter out = new StringWriter();
      serve.setOut(new PrintWriter(out, true));
      Thread t = Thread.ofPlatform().name("cli-serve").start(() -> Main.run(new String[] {"serve", "--bootstrap-servers",
          kafka.bootstrapServers(), "--model", model.toString(), "--device", "cpu", "--host", "127.0.0.1", "--port", "0",
          "--metrics-port", "-1"}, Map.of(), serve));
      await().atMost(Duration.ofSeconds(90)).until(() -> out.toString().contains("serving policy"));
      Set<Path> created = caches();
      created.removeAll(before);
      assertThat(created).as("the replica's own cache folder").hasSize(1);
      ((ServeCommand) serve.getSubcommands().get("serve").getCommand()).stop();
      t.join(60_000);
      assertThat(t.isAlive()).isFalse();
      assertThat(created.iterator().next()).doesNotExist();
    }
  }
}
