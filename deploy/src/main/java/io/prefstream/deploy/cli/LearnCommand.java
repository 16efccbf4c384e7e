package io.prefstream.deploy.cli;

import io.prefstream.deploy.kafka.EmbeddedKafka;
import io.prefstream.learner.loop.Learner;
import io.prefstream.learner.loop.LearnerConfig;
import io.prefstream.learner.loop.LearnerFleet;
import io.prefstream.learner.loop.LearnerHooks;
import io.prefstream.learner.loop.PublishedUpdates;
import io.prefstream.learner.policy.PolicySession;
import io.prefstream.learner.trainer.TrainerConfig;
import io.prefstream.model.backend.Backend;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.checkpoint.DirectoryVersionStore;
import io.prefstream.model.checkpoint.VersionStore;
import io.prefstream.model.checkpoint.kafka.KafkaVersionStore;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.io.HfModelDir;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.train.GradMode;
import io.prefstream.schemas.topic.Topics;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code prefstream learn}: the online learner of one policy ({@link Learner}) in the foreground.
 * It resumes the newest complete checkpoint of the policy in the store (or starts from the base
 * model), consumes {@code prefstream.batches}, checkpoints + evaluates + publishes a PolicyUpdate
 * every K steps or T seconds, obeys {@code prefstream.control}, and serves Prometheus metrics. On
 * Ctrl-C / SIGTERM it finishes the current step, checkpoints pending steps and exits 0. When a step
 * fails part-way — the compute device failed, above all — it exits 1 with a message naming the batch
 * and the version a restart resumes from; nothing of that step is checkpointed or published
 * ({@link io.prefstream.learner.loop.LearnerStoppedException}).
 */
@Command(
    name = "learn",
    mixinStandardHelpOptions = true,
    description = "Run the online learner of one policy: DPO/KTO steps on prefstream.batches against a pinned"
        + " reference, checkpoints with the consumer offsets inside, PolicyUpdates to prefstream.policy-updates.",
    footer = {"", "Durations: 500ms, 2s, 5m, 24h, 7d or ISO-8601 (PT2S)."})
public final class LearnCommand implements Callable<Integer> {
  private static final Logger LOG = LoggerFactory.getLogger(LearnCommand.class);

  @Spec CommandSpec spec;

  @Mixin TrainingOptions training;

  @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT,...",
      description = "Kafka cluster to use. Default: none, so an embedded single-node broker is started.")
  String bootstrapServers;

  @Option(names = "--embedded-port", paramLabel = "PORT", defaultValue = "9092",
      description = "Client port of the embedded broker (without --bootstrap-servers); 0 picks a free one."
          + " Default: ${DEFAULT-VALUE}.")
  int embeddedPort;

  @Option(names = "--checkpoint-every", paramLabel = "STEPS", defaultValue = "" + LearnerConfig.DEFAULT_CHECKPOINT_EVERY_STEPS,
      description = "Checkpoint, evaluate and publish after this many applied steps. Default: ${DEFAULT-VALUE}.")
  int checkpointEvery;

  @Option(names = "--checkpoint-interval", paramLabel = "DURATION", defaultValue = "30s",
      converter = IngestCommand.DurationConverter.class,
      description = "... or after this long when at least one step is pending and every batch in the log has been"
          + " read. Default: ${DEFAULT-VALUE}.")
  Duration checkpointInterval;

  @Option(names = "--eval-pairs", paramLabel = "N", defaultValue = "" + LearnerConfig.DEFAULT_EVAL_MAX_PAIRS,
      description = "Most recent held-out pairs (prefstream.eval) scored at each update; 0 turns evaluation off."
          + " Default: ${DEFAULT-VALUE}.")
  int evalPairs;

  @Option(names = "--eval-lookback", paramLabel = "RECORDS", defaultValue = "" + LearnerConfig.DEFAULT_EVAL_LOOKBACK_RECORDS,
      description = "Eval records read back from the end of prefstream.eval at start. Default: ${DEFAULT-VALUE}.")
  int evalLookback;

  @Option(names = "--transactional-id", paramLabel = "ID",
      description = "Transactional id of the PolicyUpdate producer; a new learner with the same id fences an"
          + " old one. Default: prefstream-learner-<policy>.")
  String transactionalId;

  @Mixin KafkaClientOptions kafkaClient;

  @Option(names = "--fleet", description = "Run as one instance of a learner fleet: instances with the same --fleet-group"
      + " share the partitions of prefstream.batches (Kafka consumer group), and each trains every policy whose"
      + " batches are in its partitions, on one base model in memory (--policy-id and --transactional-id are then"
      + " not used; each policy's transactional id is prefstream-learner-<policy>). A policy moves to another"
      + " instance when this one stops or dies, and resumes there from its last checkpoint: with --checkpoint-store"
      + " kafka the next owner fetches it from Kafka (instances share nothing else), with directory give every"
      + " instance the same --checkpoints (a shared file system).")
  boolean fleet;

  @Option(names = "--fleet-group", paramLabel = "GROUP", defaultValue = LearnerFleet.DEFAULT_GROUP,
      description = "Consumer group of the learner fleet (with --fleet). Default: ${DEFAULT-VALUE}.")
  String fleetGroup;

  @Option(names = "--session-timeout", paramLabel = "DURATION", defaultValue = "45s",
      converter = IngestCommand.DurationConverter.class,
      description = "With --fleet: how long the group waits for an instance that stopped answering before its"
          + " policies move to the others (a clean stop moves them at once). Default: ${DEFAULT-VALUE}.")
  Duration sessionTimeout;

  /** Where published versions go for serving replicas to load. */
  enum CheckpointStoreKind { directory, kafka }

  @Option(names = "--checkpoint-store", paramLabel = "directory|kafka", defaultValue = "directory",
      description = "Where published versions go for serving replicas: directory (updates name the checkpoint"
          + " directory; replicas need the same path) or kafka (LoRA adapters are also written to the compacted"
          + " prefstream.checkpoints topic; replicas need only the bootstrap servers, and a learner starting where"
          + " the policy's newest checkpoint is missing fetches it from there). Full fine-tunes need"
          + " directory. Default: ${DEFAULT-VALUE}.")
  CheckpointStoreKind checkpointStore;

  @Option(names = "--checkpoint-store-keep", paramLabel = "N", defaultValue = "" + KafkaVersionStore.DEFAULT_KEEP_VERSIONS,
      description = "With --checkpoint-store kafka: versions of the policy kept in prefstream.checkpoints; older"
          + " ones are deleted (tombstoned) as new ones are published, 0 keeps all. Default: ${DEFAULT-VALUE}.")
  int checkpointStoreKeep;

  @Option(names = "--metrics-port", paramLabel = "PORT", defaultValue = "9402",
      description = "Port serving Prometheus metrics at /metrics; 0 picks a free one, -1 turns it off."
          + " Default: ${DEFAULT-VALUE}.")
  int metricsPort;

  @Option(names = "--metrics-host", paramLabel = "HOST", defaultValue = "127.0.0.1",
      description = "Address the metrics server listens on. Default: ${DEFAULT-VALUE}.")
  String metricsHost;

  private final CountDownLatch stop = new CountDownLatch(1);
  private final CountDownLatch finished = new CountDownLatch(1);

  private UnaryOperator<Backend> backendWrapper = UnaryOperator.identity();

  /** Asks a running {@link #call()} to stop as Ctrl-C would (for tests that run it in a thread). */
  public void stop() {
    stop.countDown();
  }

  /** Wraps the compute backend before the learner gets it (for tests that inject device faults). */
  public void wrapBackend(UnaryOperator<Backend> wrapper) {
    backendWrapper = wrapper;
  }


  private LearnerConfig.Builder learnerConfig(String policy, String bootstrap, VersionStore versions) {
    return LearnerConfig.builder(policy, bootstrap)
        .clientProperties(kafkaClient.settings())
        .versionStore(versions)
        .checkpointEverySteps(checkpointEvery)
        .checkpointInterval(checkpointInterval)
        .evalMaxPairs(evalPairs)
        .evalLookbackRecords(evalLookback)
        .baseModelName(training.model.toString())
        .tokenizerDir(training.model);
  }

  @Override
  public Integer call() throws Exception {
    CommandLine cmd = spec.commandLine();
    if (metricsPort < -1 || metricsPort > 65_535) {
      throw new CommandLine.ParameterException(cmd, "--metrics-port must be -1 (off), 0 (any free port) or 1..65535, got "
          + metricsPort);
    }
    TrainerConfig trainerConfig = training.trainerConfig(cmd, training.constantSchedule(cmd));
    List<AutoCloseable> resources = new ArrayList<>();
    // The JVM exits once its shutdown hooks return, not when this thread is done: the hook waits
    // for the current step and the final checkpoint (a crash there would be safe, just later).
    Thread hook = new Thread(() -> {
      stop.countDown();
      try {
        finished.await(2, TimeUnit.MINUTES);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "prefstream-learn-shutdown");
    try {
      if (checkpointStore == CheckpointStoreKind.kafka && trainerConfig.gradMode() != GradMode.LORA) {
        throw new CommandLine.ParameterException(cmd, "--checkpoint-store kafka carries LoRA adapters only; full"
            + " fine-tunes (--mode " + trainerConfig.gradMode() + ") need --checkpoint-store directory");
      }
      String bootstrap = bootstrapServers;
      if (bootstrap == null || bootstrap.isBlank()) {
        EmbeddedKafka kafka = EmbeddedKafka.start(EmbeddedKafka.Options.defaults().withPort(embeddedPort));
        resources.addFirst(kafka);
        kafka.ensureDefaultTopics();
        bootstrap = kafka.bootstrapServers();
      } else {
        Map<String, Object> admin = kafkaClient.clientConfig(bootstrap);
        EmbeddedKafka.ensureTopics(admin, Topics.all(EmbeddedKafka.clusterReplication(admin)).stream()
            .filter(t -> List.of(Topics.BATCHES, Topics.EVAL, Topics.CONTROL, Topics.POLICY_UPDATES, Topics.CHECKPOINTS)
                .contains(t.name()))
            .toList());
      }
      Map<String, Object> clientConfig = kafkaClient.clientConfig(bootstrap);
      VersionStore versions = checkpointStore == CheckpointStoreKind.kafka
          // The learner only writes to Kafka; its own restores read the local directory.
          ? KafkaVersionStore.connect(clientConfig, Topics.CHECKPOINTS, training.checkpoints, checkpointStoreKeep)
          : new DirectoryVersionStore(Optional.empty());
      resources.addFirst(versions);
      HfModel base = HfModelDir.load(training.model);
      resources.addFirst(base);
      PrometheusRegistry registry = new PrometheusRegistry();
      Backend backend = backendWrapper.apply(training.backend(cmd));
      CheckpointStore store = new CheckpointStore(training.checkpoints);
      Learner learner = null;
      LearnerFleet fleetInstance = null;
      if (fleet) {
        // One base model in memory: every LoRA policy's model is a sibling of it.
        LlamaModel shared = trainerConfig.gradMode() == GradMode.LORA ? LlamaModel.create(base.config(), base.weights(), backend) : null;
        String boot = bootstrap;
        fleetInstance = new LearnerFleet(clientConfig, fleetGroup, Topics.BATCHES, sessionTimeout, policy -> {
          LearnerConfig lc = learnerConfig(policy, boot, versions).pollTimeout(Duration.ofMillis(20)).build();
          PublishedUpdates.fetchNewest(lc, store); // a policy that moved here from another machine
          return Learner.start(lc, PolicySession.open(base, backend, store, policy, trainerConfig, shared), registry,
              LearnerHooks.NONE);
        }, registry);
        resources.addFirst(fleetInstance);
      } else {
        LearnerConfig.Builder lcb = learnerConfig(training.policyId, bootstrap, versions);
        if (transactionalId != null) lcb.transactionalId(transactionalId);
        LearnerConfig lc = lcb.build();
        PublishedUpdates.fetchNewest(lc, store); // resuming on a machine without the newest checkpoint
        PolicySession session = PolicySession.open(base, backend, store, training.policyId, trainerConfig);
        learner = Learner.start(lc, session, registry, LearnerHooks.NONE);
        resources.addFirst(learner);
      }
      String metricsAt = "off";
      if (metricsPort >= 0) {
        HTTPServer server = HTTPServer.builder().hostname(metricsHost).port(metricsPort).registry(registry)
            .buildAndStart();
        resources.addFirst(server);
        metricsAt = "http://" + metricsHost + ":" + server.getPort() + "/metrics";
      }
      Runtime.getRuntime().addShutdownHook(hook);
      PrintWriter out = cmd.getOut();
      if (fleetInstance != null) {
        out.println("learner fleet instance running: group " + fleetGroup + ", policies of its partitions of "
            + Topics.BATCHES + " at " + bootstrap + ", checkpoints in " + training.checkpoints.toAbsolutePath()
            + ", metrics " + metricsAt);
        out.flush();
        fleetInstance.run(() -> stop.getCount() == 0);
        LOG.info("learner fleet instance stopped; it trained {}", fleetInstance.policies());
        return 0;
      }
      out.println("learner running: policy " + training.policyId + " from v" + learner.version() + " (reference "
          + learner.trainer().reference().id() + "), batches from " + Topics.BATCHES + " at " + bootstrap
          + ", checkpoints in " + training.checkpoints.toAbsolutePath() + ", metrics " + metricsAt);
      out.flush();
      learner.run(() -> stop.getCount() == 0);
      LOG.info("learner stopped at v{} (step {})", learner.version(), learner.trainer().stepCount());
      return 0;
    } finally {
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // Already running the hook: the JVM is exiting, which is why we are here.
      }
      Exception first = null;
      for (AutoCloseable r : resources) {
        try {
          r.close();
        } catch (Exception e) {
          if (first == null) first = e;
          else first.addSuppressed(e);
        }
      }
      finished.countDown();
      if (first != null) throw first;
    }
  }
}
