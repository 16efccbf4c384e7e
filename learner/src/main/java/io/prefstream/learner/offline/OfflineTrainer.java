package io.prefstream.learner.offline;

import io.prefstream.learner.eval.HeldOutEvaluator;
import io.prefstream.learner.policy.LearnerCheckpoints;
import io.prefstream.learner.policy.PolicySession;
import io.prefstream.learner.trainer.AppliedBatch;
import io.prefstream.learner.trainer.DpoTrainer;
import io.prefstream.learner.trainer.StepOutcome;
import io.prefstream.learner.trainer.TrainingBatch;
import io.prefstream.model.checkpoint.Checkpoint;
import io.prefstream.model.policy.PolicyCheckpoint;
import io.prefstream.model.policy.TrainerState;
import io.prefstream.model.train.GradMode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;

/**
 * Offline training ({@code prefstream train}) on the same code path as the online learner: the
 * examples are shuffled (seeded) each epoch, cut into batches of {@code batchSize} examples, and
 * each batch is one {@link DpoTrainer#step}; at the end one checkpoint is written to the session's
 * store as the policy's next version, the same layout the online learner resumes from and serving
 * loads.
 */
public final class OfflineTrainer {

  /** Batch size, passes over the data, shuffling seed; optional held-out pairs scored before and after. */
  public record Options(int batchSize, int epochs, long seed, List<TrainingBatch.Pair> evalPairs) {
    public Options {
      if (batchSize < 1) throw new IllegalArgumentException("batch size " + batchSize + ": expected at least 1");
      if (epochs < 1) throw new IllegalArgumentException("epochs " + epochs + ": expected at least 1");
      evalPairs = List.copyOf(evalPairs);
    }
  }

  /** Progress callback, called after every step. */
  @FunctionalInterface
  public interface Listener {
    void onStep(int done, int total, StepOutcome outcome);
  }

  /** What a run did: the checkpoint, step outcomes by status, eval metrics before and after (when asked). */
  public record Result(Checkpoint checkpoint, Map<StepOutcome.Status, Integer> outcomes, Map<String, Double> lastMetrics,
      Map<String, Double> evalBefore, Map<String, Double> evalAfter, int droppedStale, int droppedInvalid) {}

  private OfflineTrainer() {}

  /** Number of steps a run of {@code examples} examples takes. */
  public static int steps(int examples, Options options) {
    return options.epochs() * ((examples + options.batchSize() - 1) / options.batchSize());
  }

  public static Result train(PolicySession session, JsonlExamples.Result data, String source, Options options,
      Listener listener, Optional<String> baseModelName, Optional<Path> tokenizerDir) throws IOException {
    DpoTrainer trainer = session.trainer();
    List<Object> examples = new ArrayList<>(data.pairs());
    examples.addAll(data.thumbs());
    int total = steps(examples.size(), options);
    Map<String, Double> before = options.evalPairs().isEmpty() ? Map.of()
        : HeldOutEvaluator.evaluate(trainer, options.evalPairs());
    Random rnd = new Random(options.seed());
    Map<StepOutcome.Status, Integer> counts = new EnumMap<>(StepOutcome.Status.class);
    Map<String, Double> last = new LinkedHashMap<>();
    List<AppliedBatch> log = new ArrayList<>();
    int done = 0, stale = 0, invalid = 0;
    long version = session.restoredVersion();
    for (int epoch = 0; epoch < options.epochs(); epoch++) {
      List<Object> order = new ArrayList<>(examples);
      Collections.shuffle(order, rnd);
      for (int from = 0, b = 0; from < order.size(); from += options.batchSize(), b++) {
        List<TrainingBatch.Pair> pairs = new ArrayList<>();
        List<TrainingBatch.Thumb> thumbs = new ArrayList<>();
        for (Object o : order.subList(from, Math.min(order.size(), from + options.batchSize()))) {
          if (o instanceof TrainingBatch.Pair p) pairs.add(p);
          else thumbs.add((TrainingBatch.Thumb) o);
        }
        String id = "offline-e" + epoch + "-b" + b;
        StepOutcome outcome = trainer.step(new TrainingBatch(id, pairs, thumbs), version);
        counts.merge(outcome.status(), 1, Integer::sum);
        stale += outcome.droppedStale();
        invalid += outcome.droppedInvalid();
        if (outcome.applied()) last = new LinkedHashMap<>(outcome.metrics());
        log.add(new AppliedBatch(source, done, id, outcome.status().name()));
        done++;
        if (listener != null) listener.onStep(done, total, outcome);
      }
    }
    Map<String, Double> after = options.evalPairs().isEmpty() ? Map.of()
        : HeldOutEvaluator.evaluate(trainer, options.evalPairs());
    Map<String, Double> metrics = new LinkedHashMap<>(last);
    metrics.putAll(after);
    Optional<TrainerState> restored = session.restoredState();
    String format = trainer.config().gradMode() == GradMode.LORA ? PolicyCheckpoint.LORA : PolicyCheckpoint.FULL;
    TrainerState state = new TrainerState(trainer.stepCount(),
        restored.map(TrainerState::examplesSeen).orElse(0L) + (long) examples.size() * options.epochs(),
        restored.map(TrainerState::offsets).orElse(Map.of()), trainer.reference().id(),
        version == 0 ? null : version, format, metrics);
    long next = session.store().highestVersion(session.policyId()).orElse(0L) + 1;
    Checkpoint cp = LearnerCheckpoints.write(session.store(), session.policyId(), next, trainer, state, log,
        baseModelName, tokenizerDir);
    return new Result(cp, counts, last, before, after, stale, invalid);
  }
}
