package io.prefstream.deploy.cli;

import io.prefstream.deploy.demo.DemoResult;
import io.prefstream.deploy.demo.DemoRunner;
import io.prefstream.deploy.demo.DemoSettings;
import io.prefstream.deploy.demo.PreferenceProfile;
import io.prefstream.model.backend.Backend;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code prefstream demo}: the whole loop on one machine ({@link DemoRunner}): an embedded broker
 * (or a cluster), the ingest, the learner, a gRPC server and simulated users with a hidden
 * preference, a live view, {@code /metrics}, and at the end a report folder with a chart and a
 * summary. Ctrl-C stops it early; the final checkpoint and the report are still written.
 */
@Command(
    name = "demo",
    mixinStandardHelpOptions = true,
    description = {"Run the whole loop on one machine: embedded Kafka, ingest, learner, gRPC server and simulated"
        + " users who like one kind of reply (the hidden preference). Watch the liked-reply rate rise as the"
        + " learner publishes new versions; at the end a report folder holds chart.png and summary.md."},
    footer = {"", "Durations: 90s, 3m or ISO-8601 (PT90S). Ctrl-C stops early and still writes the report."})
public final class DemoCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--preference", paramLabel = "concise|polite|keyword:WORD", defaultValue = "polite",
      description = "What the simulated users like (hidden from the model): concise (at most "
          + PreferenceProfile.Concise.DEFAULT_MAX_WORDS + " words), polite (thanks, apologies, offers of help) or"
          + " keyword:WORD (replies containing WORD, e.g. keyword:refund). Default: ${DEFAULT-VALUE}.")
  String preference;

  @Option(names = "--duration", paramLabel = "DURATION", defaultValue = "3m", converter = IngestCommand.DurationConverter.class,
      description = "How long the users keep asking. Default: ${DEFAULT-VALUE}.")
  Duration duration;

  @Option(names = "--users", paramLabel = "N", defaultValue = "8",
      description = "Simulated users (each a gRPC client). Default: ${DEFAULT-VALUE}.")
  int users;

  @Option(names = "--model", paramLabel = "DIR",
      description = "Assistant model directory (Hugging Face layout). Default: the bundled models/assistant-tiny.")
  Path model;

  @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT,...",
      description = "Kafka cluster to use. Default: none, so an embedded single-node broker is started.")
  String bootstrapServers;

  @Mixin KafkaClientOptions kafkaClient;

  @Option(names = "--port", paramLabel = "PORT", defaultValue = "50051",
      description = "gRPC port of the serving replica the users call; 0 picks a free one. Default: ${DEFAULT-VALUE}.")
  int port;

  @Option(names = "--metrics-port", paramLabel = "PORT", defaultValue = "9400",
      description = "Port serving Prometheus metrics of every part at /metrics; 0 picks a free one, -1 turns it off."
          + " Default: ${DEFAULT-VALUE}.")
  int metricsPort;

  @Option(names = "--report-dir", paramLabel = "DIR",
      description = "Where the report (chart.png, summary.md, checkpoints/) goes. Default: ./demo-report/<timestamp>.")
  Path reportDir;

  @Option(names = "--device", paramLabel = "auto|cpu|cuda", defaultValue = "auto",
      description = "Compute backend of the learner and the replica: auto takes CUDA when a GPU and its libraries"
          + " are found, else the CPU. Default: ${DEFAULT-VALUE}.")
  String device;

  @Option(names = "--learning-rate", paramLabel = "LR", description = "Learning rate of the demo's DPO (LoRA) learner."
      + " Default: tuned for the bundled model.")
  Double learningRate;

  @Option(names = "--beta", paramLabel = "B", description = "DPO β. Default: tuned for the bundled model.")
  Double beta;

  @Option(names = "--sft-alpha", paramLabel = "A", description = "Weight of an SFT (NLL) term on chosen and liked replies"
      + " (TRL's rpo_alpha); 0 turns it off. Default: 1, which kept the served replies closer to the base model's at the"
      + " same liked rate.")
  Double sftAlpha;

  @Option(names = "--kto-undesirable-weight", paramLabel = "W", description = "Weight of a thumbs-down in the learner's"
      + " KTO loss, against 1 for a thumbs-up (KTO's λ_U). Default: tuned for the bundled model.")
  Double ktoUndesirableWeight;

  @Option(names = "--temperature", paramLabel = "T", description = "Sampling temperature of the users' requests, in (0, 2]."
      + " Default: 1 (the learner sees the model's whole range of replies).")
  Double temperature;

  @Option(names = "--top-p", paramLabel = "P", description = "Nucleus sampling threshold of the users' requests, in (0, 1];"
      + " 1 = off. Below 1 the model's least likely tokens (the bundled model's typos) are never sampled."
      + " Default: 1.")
  Double topP;

  @Option(names = "--seed", paramLabel = "SEED", defaultValue = "1",
      description = "Seed of the users' choices and of the LoRA adapter. Default: ${DEFAULT-VALUE}.")
  long seed;

  @Option(names = "--best-of", paramLabel = "N", defaultValue = "1",
      description = "Every reply the users get is the best of N sampled by implicit reward (sampling.best_of); 1 = off."
          + " A-vs-B choices always come from two candidates of one call. Default: ${DEFAULT-VALUE}.")
  int bestOf;

  @Option(names = "--freeze-after", paramLabel = "DURATION", defaultValue = "0s", converter = IngestCommand.DurationConverter.class,
      description = "Stop the learner after this long (final checkpoint, served as the last version) while the users"
          + " go on, so the rest of the run measures a frozen policy, e.g. with --best-of; 0s = never."
          + " Default: ${DEFAULT-VALUE}.")
  Duration freezeAfter;

  private final CountDownLatch stop = new CountDownLatch(1);
  private final CountDownLatch finished = new CountDownLatch(1);
  private volatile DemoResult result;

  /** Asks a running {@link #call()} to stop as Ctrl-C would (for tests that run it in a thread). */
  public void stop() {
    stop.countDown();
  }

  /** The finished run's result (null before). */
  public DemoResult result() {
    return result;
  }

  @Option(names = "--verbose", defaultValue = "false",
      description = "Also print every component's log lines (checkpoints, swaps, Kafka) on stderr; without it the"
          + " demo shows its live view and warnings only.")
  boolean verbose;

  /**
   * The live view is the demo's output: a log line per checkpoint and swap would scroll it away, and
   * Kafka's start-up warnings (topics not yet created, a temp state dir) are expected here.
   */
  private void quietLogs() {
    if (verbose || !(org.slf4j.LoggerFactory.getILoggerFactory() instanceof ch.qos.logback.classic.LoggerContext ctx)) {
      return;
    }
    ctx.getLogger("io.prefstream").setLevel(ch.qos.logback.classic.Level.WARN);
    ctx.getLogger("org.apache.kafka").setLevel(ch.qos.logback.classic.Level.ERROR);
    ctx.getLogger("kafka").setLevel(ch.qos.logback.classic.Level.ERROR);
    ctx.getLogger("ai.djl").setLevel(ch.qos.logback.classic.Level.ERROR);
  }

  @Override
  public Integer call() throws Exception {
    CommandLine cmd = spec.commandLine();
    DemoSettings settings = settings(cmd);
    quietLogs();
    Backend backend = LoadedModel.chooseDevice(device, cmd);
    Thread hook = new Thread(() -> {
      stop.countDown();
      try {
        finished.await(3, TimeUnit.MINUTES);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "prefstream-demo-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      PrintWriter out = cmd.getOut();
      DemoResult r = new DemoRunner(settings, out, System.console() != null && System.console().isTerminal(), backend,
          kafkaClient.settings()).run(() -> stop.getCount() == 0);
      result = r;
      out.printf(Locale.ROOT, "liked replies: %.1f%% at baseline (%d replies) -> %.1f%% over the last %ds (%d replies),"
              + " %+.1f points, p = %s%n", 100 * r.baselineRate(), r.baselineReplies(), 100 * r.finalRate(),
          settings.window().toSeconds(), r.finalReplies(), r.risePoints(), r.pValue() < 1e-4
              ? String.format(Locale.ROOT, "%.1e", r.pValue()) : String.format(Locale.ROOT, "%.4f", r.pValue()));
      out.printf("%d events, %d pairs, %d batches, %d steps, %d versions published, serving v%d%n", r.events(), r.pairs(),
          r.batches(), r.steps(), r.versionsPublished(), r.lastServedVersion());
      out.println("report: " + r.reportDir().toAbsolutePath().resolve("summary.md") + " and chart.png");
      out.flush();
      return 0;
    } finally {
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // The JVM is exiting (Ctrl-C), which is why we are here; the hook waits for `finished`.
      }
      finished.countDown();
    }
  }

  DemoSettings settings(CommandLine cmd) {
    PreferenceProfile profile;
    try {
      profile = PreferenceProfile.parse(preference);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(cmd, "--preference: " + e.getMessage());
    }
    Path modelDir = model != null ? model : bundledModel();
    if (modelDir == null) {
      throw new CommandLine.ParameterException(cmd, "the bundled model models/assistant-tiny was not found next to this"
          + " installation; give one with --model DIR");
    }
    ModelDirectory.require(cmd, "--model", modelDir);
    try {
      DemoSettings s = DemoSettings.defaults(modelDir, profile, reportDir != null ? reportDir : DemoRunner.defaultReportDir())
          .withUsers(users).withDuration(duration).withPorts(port, metricsPort).withBootstrapServers(bootstrapServers);
      if (learningRate != null || beta != null) {
        s = s.withLearning(learningRate != null ? learningRate : s.learningRate(), beta != null ? beta : s.beta(),
            s.batchSize(), s.checkpointEverySteps());
      }
      if (sftAlpha != null) s = s.withSftAlpha(sftAlpha);
      if (ktoUndesirableWeight != null) s = s.withKtoUndesirableWeight(ktoUndesirableWeight);
      if (temperature != null || topP != null) {
        s = s.withSampling(temperature != null ? temperature : s.temperature(), topP != null ? topP : s.topP());
      }
      return s.withSeed(seed).withBestOf(bestOf).withFreezeAfter(freezeAfter);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(cmd, e.getMessage());
    }
  }

  /**
   * The bundled assistant: {@code models/assistant-tiny} in the working directory or above, or
   * above the code's location (the launcher runs {@code deploy/target/prefstream.jar} from any
   * directory); null when neither has it.
   */
  static Path bundledModel() {
    Path rel = Path.of("models", "assistant-tiny");
    for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
      if (Files.isRegularFile(p.resolve(rel).resolve("config.json"))) return p.resolve(rel);
    }
    try {
      Path code = Path.of(DemoCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI());
      for (Path p = code.toAbsolutePath(); p != null; p = p.getParent()) {
        if (Files.isRegularFile(p.resolve(rel).resolve("config.json"))) return p.resolve(rel);
      }
    } catch (Exception e) {
      return null;
    }
    return null;
  }
}
