package io.prefstream.deploy.learner;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.prefstream.deploy.cli.LearnCommand;
import io.prefstream.deploy.cli.Main;
import io.prefstream.deploy.kafka.EmbeddedKafka;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.io.ModelInit;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.policy.PolicyCheckpoint;
import io.prefstream.model.safetensors.DType;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.topic.Topics;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code prefstream train} and {@code prefstream learn} as a user runs them. */
class LearnAndTrainCommandTest {
  @TempDir Path dir;

  private record Run(int exitCode, String out, String err) {}

  private static Run run(String... args) {
    CommandLine cli = Main.commandLine();
    StringWriter out = new StringWriter(), err = new StringWriter();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    int code = Main.run(args, Map.of(), cli);
    return new Run(code, out.toString(), err.toString());
  }

  private Path model() throws Exception {
    Path m = dir.resolve("model");
    ModelInit.writeRandomModel(m, ModelPresets.tiny(), 31, List.of(), DType.F32);
    return m;
  }

  private static List<String> jsonl(SplittableRandom rnd, int n) {
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      lines.add("{\"prompt\":\"Q" + rnd.nextInt(100) + ":\",\"chosen\":\" " + LearnerFixture.word(rnd, "aeiou")
          + "\",\"rejected\":\" " + LearnerFixture.word(rnd, "xzqkv") + "\"}");
    }
    return lines;
  }

  @Test
  void trainWritesACheckpointFromJsonlWithProgressAndEvalFigures() throws Exception {
    Path m = model();
    SplittableRandom rnd = new SplittableRandom(1);
    Path data = Files.write(dir.resolve("train.jsonl"), jsonl(rnd, 32));
    Path eval = Files.write(dir.resolve("eval.jsonl"), jsonl(rnd, 16));
    Run r = run("train", "--model", m.toString(), "--pairs", data.toString(), "--eval", eval.toString(),
        "--checkpoints", dir.resolve("store").toString(), "--policy-id", "offline", "--batch-size", "8", "--epochs", "3",
        "--learning-rate", "0.003", "--warmup-steps", "1", "--max-length", "32", "--max-prompt-length", "12");
    assertThat(r.exitCode()).as(r.err()).isZero();
    assertThat(r.out()).contains("training policy offline on 32 pairs and 0 thumbs", "(12 steps)", "wrote ",
        "version 1", "eval/rewards/accuracies after");
    assertThat(r.err()).contains("train");
    CheckpointStore store = new CheckpointStore(dir.resolve("store"));
    PolicyCheckpoint.Loaded loaded = PolicyCheckpoint.load(store, "offline", 1,
        io.prefstream.model.io.HfModelDir.load(m).config());
    assertThat(loaded.state().step()).isEqualTo(12);
    assertThat(loaded.isLora()).isTrue();
  }

  @Test
  void trainStopsOnBadLinesNamingThemUnlessAskedToSkip() throws Exception {
    Path m = model();
    Path data = Files.write(dir.resolve("bad.jsonl"), List.of(
        "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\"}",
        "{\"prompt\":\"p\",\"chosen\":1,\"rejected\":\"b\"}",
        "{\"prompt\":\"p\",\"chosen\":\"c\",\"rejected\":\"d\"}"));
    String[] args = {"train", "--model", m.toString(), "--pairs", data.toString(), "--checkpoints",
        dir.resolve("store").toString(), "--max-length", "32", "--max-prompt-length", "12"};
    Run bad = run(args);
    assertThat(bad.exitCode()).isEqualTo(1);
    assertThat(bad.err()).contains("1 bad line", "line 2: 'chosen' must be a string or a list of messages, found NUMBER", "--skip-bad-lines");
    assertThat(Files.exists(dir.resolve("store").resolve("default").resolve("1"))).isFalse();

    List<String> skipping = new ArrayList<>(List.of(args));
    skipping.add("--skip-bad-lines");
    Run ok = run(skipping.toArray(String[]::new));
    assertThat(ok.exitCode()).as(ok.err()).isZero();
    assertThat(ok.out()).contains("1 bad lines skipped", "skipped line 2:");
  }

  @Test
  void learnConsumesBatchesPublishesUpdatesAndStopsCleanly() throws Exception {
    Path m = model();
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      kafka.ensureDefaultTopics();
      CommandLine cli = Main.commandLine();
      StringWriter out = new StringWriter(), err = new StringWriter();
      cli.setOut(new PrintWriter(out, true));
      cli.setErr(new PrintWriter(err, true));
      LearnCommand learn = (LearnCommand) cli.getSubcommands().get("learn").getCommand();
      Path store = dir.resolve("store");
      CompletableFuture<Integer> running = CompletableFuture.supplyAsync(() -> Main.run(new String[] {"learn",
          "--model", m.toString(), "--checkpoints", store.toString(), "--bootstrap-servers", kafka.bootstrapServers(),
          "--checkpoint-every", "2", "--metrics-port", "0", "--max-length", "32", "--max-prompt-length", "12",
          "--learning-rate", "0.003"}, Map.of(), cli));
      LearnerFixture fx = new LearnerFixture(kafka);
      SplittableRandom rnd = new SplittableRandom(2);
      try (var p = new org.apache.kafka.clients.producer.KafkaProducer<String, byte[]>(Map.of("bootstrap.servers",
          kafka.bootstrapServers()), new org.apache.kafka.common.serialization.StringSerializer(),
          new org.apache.kafka.common.serialization.ByteArraySerializer())) {
        for (int i = 0; i < 3; i++) {
          p.send(new org.apache.kafka.clients.producer.ProducerRecord<>(Topics.BATCHES, "default",
              LearnerFixture.BATCH.encode(LearnerFixture.batch("b" + i, "default", i, rnd, 3)))).get();
        }
      }
      await().atMost(Duration.ofSeconds(60)).until(() -> out.toString().contains("learner running"));
      java.util.regex.Matcher at = java.util.regex.Pattern.compile("metrics (http://\\S+/metrics)").matcher(out.toString());
      assertThat(at.find()).as(out.toString()).isTrue();
      java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
      java.net.http.HttpRequest get = java.net.http.HttpRequest.newBuilder(java.net.URI.create(at.group(1))).build();
      // Three steps taken (the scrape also shows the metrics endpoint works); one checkpoint so far.
      await().atMost(Duration.ofSeconds(60)).until(() -> http.send(get,
          java.net.http.HttpResponse.BodyHandlers.ofString()).body()
          .contains("prefstream_learner_steps_total{policy=\"default\"} 3.0"));
      assertThat(new CheckpointStore(store).list("default")).containsExactly(1L);
      learn.stop();
      assertThat(running.get()).as(err.toString()).isZero();
      // The graceful stop checkpointed the third step.
      assertThat(new CheckpointStore(store).list("default")).containsExactly(1L, 2L);
      assertThat(fx.updates(Topics.POLICY_UPDATES)).extracting(PolicyUpdate::getVersion).containsExactly(1L, 2L);
      assertThat(out.toString()).contains("policy default from v0 (reference base)", "/metrics");
    }
  }

  @Test
  void learnExitsNonZeroNamingTheRestartPointWhenTheDeviceFailsAndTheNextRunResumesThere() throws Exception {
    Path m = model();
    try (EmbeddedKafka kafka = EmbeddedKafka.start();
        var producer = new org.apache.kafka.clients.producer.KafkaProducer<String, byte[]>(Map.of("bootstrap.servers",
            kafka.bootstrapServers()), new org.apache.kafka.common.serialization.StringSerializer(),
            new org.apache.kafka.common.serialization.ByteArraySerializer())) {
      kafka.ensureDefaultTopics();
      Path store = dir.resolve("store");
      String[] args = {"learn", "--model", m.toString(), "--checkpoints", store.toString(), "--bootstrap-servers",
          kafka.bootstrapServers(), "--checkpoint-every", "2", "--metrics-port", "-1", "--max-length", "32",
          "--max-prompt-length", "12", "--learning-rate", "0.003", "--device", "cpu"};
      LearnerFixture fx = new LearnerFixture(kafka);
      SplittableRandom rnd = new SplittableRandom(4);
      for (int i = 0; i < 2; i++) {
        producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>(Topics.BATCHES, "default",
            LearnerFixture.BATCH.encode(LearnerFixture.batch("b" + i, "default", i, rnd, 3)))).get();
      }

      CommandLine cli = Main.commandLine();
      StringWriter out = new StringWriter(), err = new StringWriter();
      cli.setOut(new PrintWriter(out, true));
      cli.setErr(new PrintWriter(err, true));
      LearnCommand learn = (LearnCommand) cli.getSubcommands().get("learn").getCommand();
      FailingBackend[] device = new FailingBackend[1];
      learn.wrapBackend(real -> device[0] = new FailingBackend(real));
      CompletableFuture<Integer> running = CompletableFuture.supplyAsync(() -> Main.run(args, Map.of(), cli));
      // v1 published after b0, b1: the learner is idle, waiting for batches. The device then fails
      // in the first matrix product of b2's step.
      await().atMost(Duration.ofSeconds(60)).until(() -> fx.updates(Topics.POLICY_UPDATES).size() == 1);
      device[0].failOn("matmulForward", 1);
      producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>(Topics.BATCHES, "default",
          LearnerFixture.BATCH.encode(LearnerFixture.batch("b2", "default", 2, rnd, 3)))).get();
      int code = running.get(60, java.util.concurrent.TimeUnit.SECONDS);
      assertThat(code).as(err.toString()).isEqualTo(1);
      assertThat(err.toString()).contains("prefstream learn: policy default: the compute backend failed on batch b2",
          "a restart resumes from v1", "injected device fault");
      assertThat(new CheckpointStore(store).list("default")).containsExactly(1L);
      assertThat(fx.updates(Topics.POLICY_UPDATES)).extracting(PolicyUpdate::getVersion).containsExactly(1L);

      // Run again on a healthy device: resumes from v1 and steps on b2 and b3 (v2, by count).
      producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>(Topics.BATCHES, "default",
          LearnerFixture.BATCH.encode(LearnerFixture.batch("b3", "default", 3, rnd, 3)))).get();
      CommandLine again = Main.commandLine();
      StringWriter out2 = new StringWriter(), err2 = new StringWriter();
      again.setOut(new PrintWriter(out2, true));
      again.setErr(new PrintWriter(err2, true));
      LearnCommand learnAgain = (LearnCommand) again.getSubcommands().get("learn").getCommand();
      CompletableFuture<Integer> second = CompletableFuture.supplyAsync(() -> Main.run(args, Map.of(), again));
      await().atMost(Duration.ofSeconds(60)).until(() -> fx.updates(Topics.POLICY_UPDATES).size() == 2);
      learnAgain.stop();
      assertThat(second.get(60, java.util.concurrent.TimeUnit.SECONDS)).as(err2.toString()).isZero();
      assertThat(out2.toString()).contains("policy default from v1");
      assertThat(fx.updates(Topics.POLICY_UPDATES)).extracting(u -> u.getVersion() + "@" + u.getStep())
          .containsExactly("1@2", "2@4");
    }
  }
}
