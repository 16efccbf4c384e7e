package io.prefstream.deploy.demo;

import io.prefstream.deploy.kafka.EmbeddedKafka;
import io.prefstream.ingest.IngestApp;
import io.prefstream.ingest.config.IngestConfig;
import io.prefstream.learner.loop.Learner;
import io.prefstream.learner.loop.LearnerConfig;
import io.prefstream.learner.loop.LearnerHooks;
import io.prefstream.learner.optim.LrSchedule;
import io.prefstream.learner.policy.PolicySession;
import io.prefstream.learner.trainer.DpoTrainer;
import io.prefstream.learner.trainer.TrainerConfig;
import io.prefstream.learner.trainer.TrainingBatch;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.checkpoint.DirectoryVersionStore;
import io.prefstream.model.backend.Backend;
import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.io.HfModelDir;
import io.prefstream.model.tokenizer.TokenizerConfig;
import io.prefstream.model.train.GradMode;
import io.prefstream.schemas.topic.Topics;
import io.prefstream.serving.ServingNode;
import io.prefstream.serving.engine.EngineConfig;
import io.prefstream.serving.fluency.ServedFluency;
import io.prefstream.serving.grpc.ServingConfig;
import io.prefstream.serving.registry.RegistrySettings;
import io.prefstream.serving.registry.RolloutView;
import io.prefstream.serving.registry.VersionView;
import io.prefstream.serving.rollout.PromotionGate;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs the whole prefstream loop in one process: Kafka (embedded, or a cluster), the ingest, the
 * online learner on its own thread, a serving replica with gRPC on a real port, and
 * {@link SimulatedUsers} with a hidden {@link PreferenceProfile}. Once a second it samples the
 * loop (counters from the shared Prometheus registry that {@code /metrics} serves, the version
 * served, the liked-reply rate) for the {@link LiveView} and the report. It stops when the duration
 * is over or the stop flag is raised (Ctrl-C): users first, then the learner with a final
 * checkpoint, then the rest; the {@link DemoReport} is written either way.
 */
public final class DemoRunner {
  private static final Logger LOG = LoggerFactory.getLogger(DemoRunner.class);

  /**
   * UP x DOWN pairs the ingest makes from one prompt's thumbs per window: with many users on a few
   * dozen messages the default (16) floods the one learner thread with near-duplicate pairs, and
   * what it learns reaches the users later.
   */
  static final int MAX_PAIRS_PER_PROMPT = 4;

  /**
   * Share of served replies the replica scores under the reference for the fluency line (serve's
   * default is 0.05): the bundled model's replies are short and cheap to score, and a quarter gives
   * a few hundred per minute, enough for a 30 s window.
   */
  static final double FLUENCY_SAMPLE_RATE = 0.25;

  private final DemoSettings settings;
  private final PrintWriter out;
  private final boolean interactive;

  private final Backend backend;
  private final Map<String, String> clientSettings;

  /** A runner on the CPU backend. */
  public DemoRunner(DemoSettings settings, PrintWriter out, boolean interactive) {
    this(settings, out, interactive, new CpuBackend());
  }

  /**
   * A runner whose learner and serving replica compute on {@code backend} (one device shared, as
   * the replica already shares it between concurrent generations).
   */
  public DemoRunner(DemoSettings settings, PrintWriter out, boolean interactive, Backend backend) {
    this(settings, out, interactive, backend, Map.of());
  }

  /**
   * As above, with Kafka client settings (SASL, SSL …) for every client of the run, for a cluster
   * given by {@link DemoSettings#bootstrapServers()} that needs them.
   */
  public DemoRunner(DemoSettings settings, PrintWriter out, boolean interactive, Backend backend,
      Map<String, String> clientSettings) {
    this.settings = settings;
    this.out = out;
    this.interactive = interactive;
    this.backend = backend;
    this.clientSettings = Map.copyOf(clientSettings);
  }

  private Map<String, Object> clientConfig(String bootstrap) {
    Map<String, Object> c = new java.util.HashMap<>(clientSettings);
    c.put("bootstrap.servers", bootstrap);
    return c;
  }

  /** The default report folder: {@code ./demo-report/<yyyyMMdd-HHmmss>}. */
  public static Path defaultReportDir() {
    return Path.of("demo-report", LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
  }

  /** Runs the demo until its duration is over or {@code stop} says so, and writes the report. */
  public DemoResult run(BooleanSupplier stop) throws Exception {
    DemoTimeline timeline = new DemoTimeline();
    Files.createDirectories(settings.reportDir());
    Path work = Files.createTempDirectory("prefstream-demo-");
    Path checkpoints = settings.reportDir().resolve("checkpoints");
    String policy = "demo-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
    List<AutoCloseable> resources = new ArrayList<>(); // closed in reverse order of start
    AtomicBoolean stopLearner = new AtomicBoolean();
    AtomicReference<Throwable> learnerFailure = new AtomicReference<>();
    Thread learnerThread = null;
    SimulatedUsers users = null;
    Learner learner = null;
    ServingNode node = null;
    boolean interrupted = false;
    PrometheusRegistry registry = new PrometheusRegistry();
    MetricsReader metrics = new MetricsReader(registry);
    String metricsAt = "off";
    List<VersionView> versions = List.of();
    double baseServedNll = Double.NaN;
    try {
      String bootstrap = settings.bootstrapServers();
      if (bootstrap == null || bootstrap.isBlank()) {
        EmbeddedKafka kafka = EmbeddedKafka.start(EmbeddedKafka.Options.defaults());
        resources.add(kafka);
        kafka.ensureDefaultTopics();
        bootstrap = kafka.bootstrapServers();
      } else {
        EmbeddedKafka.ensureTopics(clientConfig(bootstrap), Topics.all(EmbeddedKafka.clusterReplication(clientConfig(bootstrap))));
      }
      if (settings.metricsPort() >= 0) {
        HTTPServer http = HTTPServer.builder().hostname("127.0.0.1").port(settings.metricsPort()).registry(registry)
            .buildAndStart();
        resources.add(http);
        metricsAt = "http://127.0.0.1:" + http.getPort() + "/metrics";
      }

      IngestApp ingest = IngestApp.start(IngestConfig.builder(bootstrap, work.resolve("ingest"))
          .applicationId("prefstream-" + policy + "-ingest")
          .batchSize(settings.batchSize())
          .batchMaxAge(Duration.ofSeconds(1))
          .pairingWindow(settings.pairingWindow())
          .maxPairsPerPrompt(MAX_PAIRS_PER_PROMPT)
          .evalShare(settings.evalShare())
          .streamsOverrides(clientSettings)
          .build(), registry);
      resources.add(ingest);

      HfModel base = HfModelDir.load(settings.modelDir());
      resources.add(base);
      int context = base.config().maxPositions();
      TrainerConfig trainerConfig = TrainerConfig.builder()
          .beta(settings.beta())
          .sftAlpha(settings.sftAlpha())
          .ktoWeights(1.0, settings.ktoUndesirableWeight())
          .maxLength(Math.min(context, TrainerConfig.DEFAULT_MAX_LENGTH))
          .maxPromptLength(Math.min(context, TrainerConfig.DEFAULT_MAX_LENGTH) / 2)
          .gradMode(GradMode.LORA)
          .lora(new LoraConfig(settings.loraRank(), 2.0 * settings.loraRank(), new LinkedHashSet<>(List.of(
              "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")), 0))
          .loraSeed(settings.seed())
          .schedule(new LrSchedule.WarmupConstant(settings.learningRate(), 3))
          .build();
      PolicySession session = PolicySession.open(base, backend, new CheckpointStore(checkpoints), policy,
          trainerConfig);
      LearnerHooks hooks = new LearnerHooks() {
        @Override
        public void beforeStep(TrainingBatch batch, DpoTrainer trainer) {
          timeline.learning(trainer.stepCount() + 1, !batch.pairs().isEmpty(), batch.sources());
        }
      };
      learner = Learner.start(LearnerConfig.builder(policy, bootstrap)
          .clientProperties(clientSettings)
          .checkpointEverySteps(settings.checkpointEverySteps())
          .checkpointInterval(Duration.ofSeconds(5))
          .evalMaxPairs(64)
          .pollTimeout(Duration.ofMillis(200))
          .baseModelName(settings.modelDir().toString())
          .tokenizerDir(settings.modelDir())
          .build(), session, registry, hooks);
      Learner runningLearner = learner;
      learnerThread = Thread.ofPlatform().name("demo-learner").unstarted(() -> {
        try {
          runningLearner.run(stopLearner::get);
        } catch (Throwable e) {
          learnerFailure.set(e);
          LOG.error("the learner stopped with an error", e);
        }
      });
      learnerThread.start();

      node = ServingNode.startWithKafka(clientConfig(bootstrap), settings.modelDir(),
          List.of(new DirectoryVersionStore(Optional.of(checkpoints))),
          ServingConfig.defaults().withHost(settings.host()).withPort(settings.port()).withDefaultBeta(settings.beta())
              .withFluencySampleRate(FLUENCY_SAMPLE_RATE),
          EngineConfig.defaults(),
          RegistrySettings.defaults("demo").withDefaultPolicy(policy).withGate(new PromotionGate(settings.gateMargin())),
          registry, backend);
      resources.add(node);

      out.printf("prefstream demo: policy %s, hidden preference %s, %d users, %ds%n", policy,
          settings.preference().label(), settings.users(), settings.duration().toSeconds());
      out.printf("  gRPC %s:%d, Kafka %s, metrics %s, report %s%n", settings.host(), node.port(), bootstrap, metricsAt,
          settings.reportDir().toAbsolutePath());
      out.flush();

      timeline.begin();
      if (TokenizerConfig.read(settings.modelDir()).chatTemplate().isEmpty()) {
        throw new IOException(settings.modelDir() + " has no chat template (chat_template.jinja or tokenizer_config.json's"
            + " chat_template): the simulated users chat with the model, which renders conversations through it");
      }
      users = SimulatedUsers.start(settings.host(), node.port(), policy, settings.preference(),
          new SimulatedUsers.Behaviour(settings.users(), settings.temperature(), settings.topP(), settings.maxNewTokens(),
              settings.compareShare(), settings.thinkMillis(), settings.seed(), settings.bestOf()),
          timeline);

      LiveView view = new LiveView(out, interactive, 5);
      long endMillis = settings.duration().toMillis();
      long windowMillis = settings.window().toMillis();
      long served = 0;
      while (true) {
        if (stop.getAsBoolean()) {
          interrupted = true;
          break;
        }
        if (timeline.now() >= endMillis) break;
        if (learnerFailure.get() != null) throw new IllegalStateException("the learner failed", learnerFailure.get());
        if (settings.freezes() && !stopLearner.get() && timeline.now() >= settings.freezeAfter().toMillis()) {
          stopLearner.set(true); // it checkpoints what it has and publishes it as the last version
          out.printf("learner stopped at %d s (--freeze-after): from now on the policy is frozen%n",
              settings.freezeAfter().toSeconds());
          out.flush();
        }
        Thread.sleep(Math.max(1, Math.min(1000 - timeline.now() % 1000, endMillis - timeline.now())));
        RolloutView status = node.registry().status(policy);
        if (status.servingVersion() != served) {
          served = status.servingVersion();
          versions = node.registry().versions(policy);
          timeline.swapped(served, stepOf(versions, served));
          LOG.info("now serving v{}", served);
        }
        timeline.sample(sample(timeline, metrics, served, windowMillis));
        long[] b = timeline.baseline();
        view.show(timeline.samples().getLast(), b[1] == 0 ? Double.NaN : (double) b[0] / b[1], b[1],
            windowMillis / 1000);
      }
      view.finish();
      if (interrupted) out.println("stopping (interrupted): final checkpoint, then the report");
      else out.println("time is up: final checkpoint, then the report");
      out.flush();
    } finally {
      if (users != null) users.close();
      stopLearner.set(true);
      if (learnerThread != null) {
        learnerThread.join(TimeUnit.MINUTES.toMillis(2));
        if (learnerThread.isAlive()) LOG.warn("the learner did not stop within 2 minutes");
      }
      if (learner != null) learner.close();
      if (node != null) {
        baseServedNll = node.server().fluency().ofVersion(policy, 0).map(ServedFluency.Nll::perToken).orElse(Double.NaN);
        try {
          versions = node.registry().versions(policy);
        } catch (RuntimeException e) {
          LOG.debug("versions at stop: {}", e.toString());
        }
      }
      Exception first = null;
      for (AutoCloseable r : resources.reversed()) {
        try {
          r.close();
        } catch (Exception e) {
          if (first == null) first = e;
          else first.addSuppressed(e);
        }
      }
      deleteTree(work);
      pruneCheckpoints(checkpoints);
      if (first != null) LOG.warn("closing the demo's parts", first);
    }
    MetricsReader.Snapshot end = metrics.snapshot();
    DemoResult result = result(timeline, end, versions, interrupted, baseServedNll);
    DemoReport.write(settings, timeline, result);
    LOG.info("demo {}: liked {}/{} at baseline -> {}/{} in the last {} s ({} points, z {}, p {}); {} steps, {} versions",
        result.preference(), result.baselineLiked(), result.baselineReplies(), result.finalLiked(), result.finalReplies(),
        settings.window().toSeconds(), String.format(Locale.ROOT, "%+.1f", result.risePoints()),
        String.format(Locale.ROOT, "%.2f", result.z()), DemoReport.pValue(result.pValue()), result.steps(),
        result.versionsPublished());
    return result;
  }

  private DemoResult result(DemoTimeline timeline, MetricsReader.Snapshot end, List<VersionView> versions,
      boolean interrupted, double baseServedNll) {
    long[] b = timeline.baseline();
    long endMillis = timeline.samples().isEmpty() ? timeline.now() : timeline.samples().getLast().atMillis();
    double[] f = timeline.rate(endMillis - settings.window().toMillis(), endMillis);
    long finalReplies = (long) f[1];
    long finalLiked = (long) f[2];
    double[] zp = DemoResult.zTest(b[0], b[1], finalLiked, finalReplies);
    long published = (long) metrics(end, "prefstream_learner_updates_published");
    long lastServed = timeline.swaps().isEmpty() ? 0 : timeline.swaps().getLast().version();
    return new DemoResult(settings.preference().label(), endMillis / 1000.0, b[0], b[1], finalLiked, finalReplies, zp[0],
        zp[1], end.count("prefstream_ingest_events_in"), end.count("prefstream_ingest_pairs"),
        (long) metrics(end, "prefstream_ingest_batches", "topic", Topics.BATCHES), end.count("prefstream_learner_steps"),
        published, lastServed, timeline.thumbs(), timeline.comparisons(), timeline.freshnessMillis(), interrupted,
        settings.reportDir(), baseServedNll, timeline.servedNll(endMillis - settings.window().toMillis(), endMillis),
        timeline.baseFluency(), timeline.fluency(endMillis - settings.window().toMillis(), endMillis));
  }

  private static double metrics(MetricsReader.Snapshot s, String name) {
    double v = s.value(name);
    return Double.isNaN(v) ? 0 : v;
  }

  private static double metrics(MetricsReader.Snapshot s, String name, String label, String value) {
    double v = s.value(name, label, value);
    return Double.isNaN(v) ? 0 : v;
  }

  private static DemoTimeline.Sample sample(DemoTimeline timeline, MetricsReader metrics, long served,
      long windowMillis) {
    long now = timeline.now();
    double[] w = timeline.rate(now - windowMillis, now);
    MetricsReader.Snapshot s = metrics.snapshot();
    long steps = s.count("prefstream_learner_steps");
    double kl = timeline.pairStep(steps) ? s.value("prefstream_learner_kl") : Double.NaN;
    return new DemoTimeline.Sample(now, w[0], (int) w[1], s.value("prefstream_learner_eval_reward_accuracy"), kl,
        s.count("prefstream_ingest_events_in"), s.count("prefstream_ingest_pairs"),
        (long) metrics(s, "prefstream_ingest_batches", "topic", Topics.BATCHES), steps, served,
        s.value("prefstream_serving_served_reply_ref_nll"), s.value("prefstream_serving_served_reply_ref_nats"),
        s.value("prefstream_serving_served_reply_ref_tokens"));
  }

  /** The learner step a served version was trained through, from its PolicyUpdate (-1: unknown). */
  private static long stepOf(List<VersionView> versions, long version) {
    return versions.stream().filter(v -> v.update().getVersion() == version)
        .map(v -> v.update().getStep()).findFirst().orElse(version == 0 ? 0L : -1L);
  }

  /**
   * Keeps each policy's newest checkpoint (the final one, resumable with {@code prefstream learn})
   * and deletes the older versions, which a run publishes every few seconds (about 1 MB each).
   */
  private static void pruneCheckpoints(Path root) {
    if (!Files.isDirectory(root)) return;
    try (Stream<Path> policies = Files.list(root)) {
      for (Path policy : policies.filter(Files::isDirectory).toList()) {
        List<Path> versions;
        try (Stream<Path> vs = Files.list(policy)) {
          versions = vs.filter(p -> p.getFileName().toString().matches("\\d+"))
              .sorted(Comparator.comparingLong(p -> Long.parseLong(p.getFileName().toString()))).toList();
        }
        for (Path old : versions.subList(0, Math.max(0, versions.size() - 1))) deleteTree(old);
      }
    } catch (IOException e) {
      LOG.warn("could not prune the demo's checkpoints in {}: {}", root, e.toString());
    }
  }

  private static void deleteTree(Path dir) {
    try {
      io.prefstream.deploy.io.FileTrees.delete(dir);
    } catch (IOException e) {
      LOG.warn("could not delete the demo's work folder {}: {}", dir, e.toString());
    }
  }
}
