package io.prefstream.deploy.cli;

import io.prefstream.learner.eval.HeldOutEvaluator;
import io.prefstream.learner.objective.MetricNames;
import io.prefstream.learner.offline.JsonlExamples;
import io.prefstream.learner.offline.OfflineTrainer;
import io.prefstream.learner.optim.LrSchedule;
import io.prefstream.learner.policy.PolicySession;
import io.prefstream.learner.trainer.StepOutcome;
import io.prefstream.learner.trainer.TrainerConfig;
import io.prefstream.learner.trainer.TrainingBatch;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.io.HfModelDir;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.DelegatingProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code prefstream train}: offline DPO/KTO on a TRL-style JSONL file, through the same trainer as
 * the online learner, writing the result as the policy's next checkpoint version (which {@code learn}
 * resumes from and serving loads). Shows a progress bar on stderr; bad input lines stop it before
 * training with their line numbers, or with {@code --skip-bad-lines} are counted and listed.
 */
@Command(
    name = "train",
    mixinStandardHelpOptions = true,
    description = "Train offline on a JSONL file (prompt/chosen/rejected pairs and/or prompt/completion/label"
        + " thumbs) and write a checkpoint, on the online learner's code path.")
public final class TrainCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Mixin TrainingOptions training;

  @Option(names = "--pairs", paramLabel = "FILE.jsonl", required = true,
      description = "Training data, one JSON object per line: {prompt, chosen, rejected} or {prompt, completion, label}.")
  Path pairs;

  @Option(names = "--eval", paramLabel = "FILE.jsonl",
      description = "Held-out pairs scored before and after training (eval/rewards/accuracies, margins).")
  Path evalFile;

  @Option(names = "--batch-size", paramLabel = "N", defaultValue = "8",
      description = "Examples per optimiser step. Default: ${DEFAULT-VALUE}.")
  int batchSize;

  @Option(names = "--epochs", paramLabel = "N", defaultValue = "1",
      description = "Passes over the data. Default: ${DEFAULT-VALUE}.")
  int epochs;

  @Option(names = "--seed", paramLabel = "SEED", defaultValue = "0",
      description = "Shuffling seed. Default: ${DEFAULT-VALUE}.")
  long seed;

  @Option(names = "--schedule", paramLabel = "cosine|constant", defaultValue = "cosine",
      description = "Learning rate after warm-up: cosine decay to 0 over the run, or constant. Default: ${DEFAULT-VALUE}.")
  String schedule;

  @Option(names = "--skip-bad-lines", defaultValue = "false",
      description = "Skip malformed lines (counted and listed) instead of stopping.")
  boolean skipBadLines;

  @Override
  public Integer call() throws Exception {
    CommandLine cmd = spec.commandLine();
    PrintWriter out = cmd.getOut();
    PrintWriter err = cmd.getErr();
    if (!Files.isRegularFile(pairs)) {
      throw new CommandLine.ParameterException(cmd, "--pairs " + pairs + ": no such file");
    }
    JsonlExamples.Result data;
    List<TrainingBatch.Pair> evalPairs = List.of();
    try {
      data = JsonlExamples.read(pairs, skipBadLines);
      if (evalFile != null) evalPairs = JsonlExamples.read(evalFile, skipBadLines).pairs();
    } catch (JsonlExamples.FormatException e) {
      err.println("prefstream train: " + e.getMessage());
      err.println("(fix the lines, or pass --skip-bad-lines to train without them)");
      return 1;
    }
    OfflineTrainer.Options options;
    try {
      options = new OfflineTrainer.Options(batchSize, epochs, seed, evalPairs);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(cmd, e.getMessage());
    }
    int total = OfflineTrainer.steps(data.size(), options);
    LrSchedule lr = switch (schedule.trim().toLowerCase(Locale.ROOT)) {
      case "constant" -> training.constantSchedule(cmd);
      case "cosine" -> {
        try {
          long warmup = Math.min(training.warmupSteps, Math.max(0, total - 1));
          yield new LrSchedule.WarmupCosine(training.learningRate, warmup, Math.max(total, warmup + 1), 0);
        } catch (IllegalArgumentException e) {
          throw new CommandLine.ParameterException(cmd, "invalid schedule: " + e.getMessage());
        }
      }
      default -> throw new CommandLine.ParameterException(cmd, "--schedule " + schedule + ": expected cosine or constant");
    };
    TrainerConfig config = training.trainerConfig(cmd, lr);
    out.println("training policy " + training.policyId + " on " + data.pairs().size() + " pairs and "
        + data.thumbs().size() + " thumbs from " + pairs + " (" + total + " steps"
        + (data.badLines().isEmpty() ? "" : ", " + data.badLines().size() + " bad lines skipped") + ")");
    for (String bad : data.badLines()) out.println("  skipped " + bad);
    out.flush();
    try (HfModel base = HfModelDir.load(training.model)) {
      PolicySession session = PolicySession.open(base, training.backend(cmd), new CheckpointStore(training.checkpoints),
          training.policyId, config);
      OfflineTrainer.Result result;
      try (ProgressBar bar = new ProgressBarBuilder().setTaskName("train").setInitialMax(total)
          .setConsumer(new DelegatingProgressBarConsumer(line -> {
            err.print("\r" + line);
            err.flush();
          })).build()) {
        result = OfflineTrainer.train(session, data, pairs.getFileName().toString(), options, (done, all, o) -> {
          bar.stepTo(done);
          Double loss = o.metrics().get(MetricNames.LOSS);
          if (loss != null) bar.setExtraMessage(String.format(Locale.ROOT, "loss %.4f", loss));
        }, Optional.of(training.model.toString()), Optional.of(training.model));
      }
      err.println();
      out.println("wrote " + result.checkpoint().uri() + " (version " + result.checkpoint().version() + ", step "
          + session.trainer().stepCount() + ", reference " + session.trainer().reference().id() + ")");
      Map<StepOutcome.Status, Integer> outcomes = result.outcomes();
      out.println("steps: " + outcomes);
      if (result.droppedInvalid() > 0 || result.droppedStale() > 0) {
        out.println("examples left out: " + result.droppedInvalid() + " with nothing to score, " + result.droppedStale()
            + " stale");
      }
      printMetric(out, "last batch loss", result.lastMetrics().get(MetricNames.LOSS));
      printMetric(out, "last batch rewards/accuracies", result.lastMetrics().get(MetricNames.REWARDS_ACCURACIES));
      if (!result.evalAfter().isEmpty()) {
        printMetric(out, "eval/rewards/accuracies before", result.evalBefore().get(HeldOutEvaluator.ACCURACY));
        printMetric(out, "eval/rewards/accuracies after", result.evalAfter().get(HeldOutEvaluator.ACCURACY));
        printMetric(out, "eval/rewards/margins after", result.evalAfter().get(HeldOutEvaluator.MARGIN));
      }
      int skipped = outcomes.getOrDefault(StepOutcome.Status.SKIPPED_NON_FINITE_LOSS, 0)
          + outcomes.getOrDefault(StepOutcome.Status.SKIPPED_NON_FINITE_GRAD, 0);
      if (skipped > 0) err.println("prefstream train: " + skipped + " batches skipped for non-finite loss or gradients");
      return 0;
    }
  }

  private static void printMetric(PrintWriter out, String name, Double v) {
    if (v != null) out.println(String.format(Locale.ROOT, "%s: %.4f", name, v));
  }
}
