package io.prefstream.deploy.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.prefstream.deploy.cli.DemoCommand;
import io.prefstream.deploy.cli.Main;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The whole loop learns a hidden preference for real: two short demos (polite through the runner,
 * concise through the CLI stopped early as Ctrl-C would) each show a statistically clear rise of
 * the served liked-reply rate over the base model's, and write their report.
 */
class DemoEndToEndTest {
  private static final Path MODEL = Path.of("..", "models", "assistant-tiny");
  /** Short runs on a shared 2-core machine: long enough for several updates to be served. */
  private static final Duration RUN = Duration.ofSeconds(75);

  private static void assumeModel() {
    Assumptions.assumeTrue(Files.isRegularFile(MODEL.resolve("model.safetensors")), "models/assistant-tiny is not in this checkout");
  }

  private static void assertClearRise(DemoResult r) {
    assertThat(r.baselineReplies()).as("baseline replies").isGreaterThanOrEqualTo(30);
    assertThat(r.finalReplies()).as("final-window replies").isGreaterThanOrEqualTo(30);
    assertThat(r.versionsPublished()).as("versions published").isGreaterThanOrEqualTo(1);
    assertThat(r.lastServedVersion()).as("a trained version was served").isGreaterThanOrEqualTo(1);
    assertThat(r.finalRate()).as("final vs baseline rate").isGreaterThan(r.baselineRate());
    assertThat(r.pValue()).as("two-proportion z-test p, rise %.1f points", r.risePoints()).isLessThan(0.01);
    // The replica scored a share of what it served under the reference, under the base and in the final window.
    assertThat(r.baseServedNll()).as("base model's served-reply NLL").isPositive().isFinite();
    assertThat(r.finalServedNll()).as("final served-reply NLL").isPositive().isFinite();
    // The A/B candidates came with their reference log-probs, split by the users' verdict.
    assertThat(r.baseFluency().all().replies()).as("base model's scored A/B candidates").isPositive();
    assertThat(r.finalFluency().all().replies()).as("final window's scored A/B candidates").isPositive();
    assertThat(r.finalFluency().all().perToken()).as("their NLL per token").isPositive().isFinite();
  }

  private static void assertReport(Path dir, String preference) throws Exception {
    Path chart = dir.resolve(DemoReport.CHART);
    assertThat(chart).isRegularFile();
    byte[] png = Files.readAllBytes(chart);
    assertThat(png).startsWith(0x89, 'P', 'N', 'G');
    String summary = Files.readString(dir.resolve(DemoReport.SUMMARY));
    assertThat(summary).contains("Hidden preference: **" + preference + "**", "baseline liked rate", "final liked rate",
        "z-test", "versions published", "freshness", "learner steps", "served replies' reference NLL per token", "of the A/B candidates users liked",
        "replies made of the bundled assistant's corpus sentences");
  }

  @Test
  void politeUsersTeachTheAssistantToBePolite(@TempDir Path dir) throws Exception {
    assumeModel();
    DemoSettings settings = DemoSettings.defaults(MODEL, new PreferenceProfile.Polite(), dir.resolve("report"))
        .withDuration(RUN).withPorts(0, -1).withWindow(Duration.ofSeconds(20));
    StringWriter out = new StringWriter();
    DemoResult r = new DemoRunner(settings, new PrintWriter(out, true), false).run(() -> false);
    assertThat(r.interrupted()).isFalse();
    assertClearRise(r);
    assertReport(r.reportDir(), "polite");
    assertThat(out.toString()).contains("liked", "serving v", "time is up");
  }

  @Test
  void conciseDemoFromTheCliStoppedEarlyStillLearnsAndWritesTheReport(@TempDir Path dir) throws Exception {
    assumeModel();
    CommandLine cli = Main.commandLine();
    StringWriter out = new StringWriter();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(new StringWriter(), true));
    Path report = dir.resolve("report");
    AtomicInteger exit = new AtomicInteger(-1);
    Thread run = Thread.ofPlatform().name("demo-cli").start(() -> exit.set(Main.run(new String[] {"demo",
        "--preference", "concise", "--duration", "10m", "--port", "0", "--metrics-port", "0", "--model", MODEL.toString(),
        "--report-dir", report.toString()}, Map.of(), cli)));
    DemoCommand demo = cli.getSubcommands().get("demo").getCommand();

    // /metrics serves every part's metrics while the demo runs.
    Pattern metricsAt = Pattern.compile("metrics (http://\\S+/metrics)");
    String url = await().atMost(Duration.ofMinutes(2)).until(() -> {
      Matcher m = metricsAt.matcher(out.toString());
      return m.find() ? m.group(1) : null;
    }, u -> u != null);
    long usersStarted = System.nanoTime();
    HttpClient http = HttpClient.newHttpClient();
    await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofSeconds(2)).untilAsserted(() -> {
      String body = http.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString()).body();
      assertThat(body).contains("prefstream_ingest_events_in_total", "prefstream_learner_steps_total",
          "prefstream_serving_served_reply_ref_nats_total",
          "prefstream_serving_requests_total");
    });

    // Ctrl-C's path: the stop flag, then a final checkpoint and the report.
    Thread.sleep(Math.max(0, RUN.toMillis() - (System.nanoTime() - usersStarted) / 1_000_000));
    demo.stop();
    run.join(Duration.ofMinutes(3));
    assertThat(run.isAlive()).isFalse();
    assertThat(exit.get()).isZero();
    DemoResult r = demo.result();
    assertThat(r.interrupted()).isTrue();
    assertClearRise(r);
    assertReport(report, "concise");
    assertThat(Files.readString(report.resolve(DemoReport.SUMMARY))).contains("stopped early by the user");
    // The final checkpoint holds every step the learner took.
    Path newest;
    try (Stream<Path> policies = Files.list(report.resolve("checkpoints"))) {
      Path policy = policies.findFirst().orElseThrow();
      try (Stream<Path> versions = Files.list(policy)) {
        newest = versions.filter(p -> p.getFileName().toString().matches("\\d+"))
            .max((a, b) -> Long.compare(Long.parseLong(a.getFileName().toString()), Long.parseLong(b.getFileName().toString())))
            .orElseThrow();
      }
    }
    // ... and the demo's default SFT term (α 1) was in the loss: the trainer reports its NLL only then.
    assertThat(Files.readString(newest.resolve("trainer_state.json"))).contains("\"step\" : " + r.steps() + ",", "\"nll_loss\"");
    assertThat(out.toString()).contains("stopping (interrupted)", "report: ");
  }
}
