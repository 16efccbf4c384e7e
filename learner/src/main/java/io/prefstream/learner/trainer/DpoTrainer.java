package io.prefstream.learner.trainer;

import io.prefstream.learner.objective.KtoBatch;
import io.prefstream.learner.objective.KtoObjective;
import io.prefstream.learner.objective.KtoResult;
import io.prefstream.learner.objective.MetricNames;
import io.prefstream.learner.objective.PairObjective;
import io.prefstream.learner.objective.PairResult;
import io.prefstream.learner.objective.PreferenceBatch;
import io.prefstream.learner.objective.SftTerm;
import io.prefstream.learner.optim.AdamW;
import io.prefstream.learner.optim.DeviceAdamW;
import io.prefstream.learner.optim.Optimizer;
import io.prefstream.learner.optim.StepResult;
import io.prefstream.learner.reference.PinnedReference;
import io.prefstream.model.llama.ForwardPass;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.cuda.CudaBackend;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.text.Content;
import io.prefstream.model.text.SequenceEncoder;
import io.prefstream.model.llama.SequenceLogProbs;
import io.prefstream.model.tokenizer.Tokenizer;
import io.prefstream.model.train.GradMode;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One optimiser step of preference learning per call: DPO-family objective on the pairs, KTO on the
 * thumbs, an optional SFT term, against a {@link PinnedReference}. A step tokenises the examples
 * ({@link SequenceEncoder}, TRL's construction), scores them under the reference without gradients (once per sequence),
 * runs the policy forward with gradients, evaluates the objective, back-propagates ∂L/∂(sequence
 * log-prob) through the model and applies AdamW. When a batch holds both pairs and thumbs the loss
 * is their mean weighted by count: L = (P·L_pairs + U·L_kto) / (P + U).
 *
 * <p>A non-finite loss or gradient skips the batch: nothing changes (weights, moments, step
 * count) and the outcome says so. A batch that cannot be trained on is refused with an
 * {@link InvalidBatchException} before anything is computed; any other exception leaves the
 * trainer's state untrusted. Owned by one thread; the policy model must have its adapter
 * attached (LORA) before the trainer is built.
 */
public final class DpoTrainer {
  private static final Logger log = LoggerFactory.getLogger(DpoTrainer.class);

  private final LlamaModel policy;
  private final TrainerConfig config;
  private final SequenceEncoder encoder;
  private final PairObjective pairObjective;
  private final KtoObjective ktoObjective;
  private final SftTerm sft;
  /** Host AdamW on the CPU backend's own arrays; null when the optimiser runs on the device. */
  private final ParameterBridge bridge;
  private final Optimizer optimizer;
  private PinnedReference reference;

  public DpoTrainer(LlamaModel policy, Tokenizer tokenizer, TrainerConfig config, PinnedReference reference) {
    this.policy = Objects.requireNonNull(policy, "policy");
    this.config = Objects.requireNonNull(config, "config");
    this.reference = Objects.requireNonNull(reference, "reference");
    if (config.gradMode() == GradMode.LORA && policy.lora().isEmpty()) {
      throw new IllegalStateException("LORA training needs an adapter attached to the policy model");
    }
    this.encoder = encoderFor(tokenizer, config, policy.config().maxPositions());
    this.pairObjective = config.pairObjective();
    this.ktoObjective = config.ktoObjective();
    this.sft = config.sftAlpha() > 0 ? new SftTerm(config.sftAlpha()) : null;
    if (!(policy.backend() instanceof CudaBackend)) {
      // The CPU backend's own arrays (through the bridge; other host backends, such as test wrappers, copy).
      this.bridge = new ParameterBridge(policy.backend(), policy.parameters(config.gradMode()));
      this.optimizer = new AdamW(config.adamW(), config.schedule(), bridge.optimizerParameters());
    } else {
      // On the GPU no per-step round trip of weights and gradients: moments and update stay on the device.
      this.bridge = null;
      this.optimizer = new DeviceAdamW(config.adamW(), config.schedule(), policy.backend(),
          policy.parameters(config.gradMode()));
    }
  }

  public LlamaModel policy() {
    return policy;
  }

  public TrainerConfig config() {
    return config;
  }

  public PinnedReference reference() {
    return reference;
  }

  /** Re-pins the reference (a control command); later steps and evaluations use it. */
  public void setReference(PinnedReference newReference) {
    this.reference = Objects.requireNonNull(newReference, "reference");
  }

  /**
   * The encoder with the configured lengths, fitted to the model's context: a max length beyond
   * {@code max_position_embeddings} is lowered to it (and a prompt limit that no longer fits to half
   * of it), and the log says so, so that defaults work with any model.
   */
  public static SequenceEncoder encoderFor(Tokenizer tokenizer, TrainerConfig config, int maxPositions) {
    int maxLength = config.maxLength();
    int maxPrompt = config.maxPromptLength();
    if (maxLength > maxPositions) {
      maxLength = maxPositions;
      if (maxPrompt >= maxLength) maxPrompt = maxLength / 2;
      log.info("max length {} exceeds the model's max_position_embeddings {}: using max length {} and max prompt"
          + " length {}", config.maxLength(), maxPositions, maxLength, maxPrompt);
    }
    return new SequenceEncoder(tokenizer, maxLength, maxPrompt, true);
  }

  public SequenceEncoder encoder() {
    return encoder;
  }

  /** Optimiser steps applied so far. */
  public long stepCount() {
    return optimizer.stepCount();
  }

  public Optimizer optimizer() {
    return optimizer;
  }

  /** The optimiser state in its checksummed format (for a checkpoint). */
  public byte[] optimizerState() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try {
      optimizer.writeState(out);
    } catch (IOException e) {
      throw new IllegalStateException("writing to memory cannot fail", e);
    }
    return out.toByteArray();
  }

  /** Restores the optimiser state written by {@link #optimizerState()} (or a checkpoint's file). */
  public void loadOptimizerState(Path file) throws IOException {
    optimizer.loadState(file);
  }

  public void loadOptimizerState(byte[] state) throws IOException {
    optimizer.readState(new ByteArrayInputStream(state));
  }

  /**
   * One step on {@code batch}; {@code currentVersion} is the policy version the staleness rule compares with.
   *
   * @throws InvalidBatchException when the batch cannot be trained on as it stands (found before any
   *     computation; nothing changed)
   * @throws io.prefstream.model.backend.BackendFailure when the compute backend failed; like any other
   *     exception, the step may have stopped part-way (e.g. after the host optimiser update, before
   *     the new values reached the model), so the trainer must not be used further
   */
  public StepOutcome step(TrainingBatch batch, long currentVersion) {
    Prepared prepared = prepare(batch, currentVersion);
    if (prepared.examples() == 0) {
      return new StepOutcome(StepOutcome.Status.EMPTY, optimizer.stepCount(), 0, prepared.droppedStale,
          prepared.droppedInvalid, Map.of(), StepOutcome.Timings.NONE);
    }
    int p = prepared.pairWeights.size();
    int u = prepared.thumbWeights.size();
    List<PromptResponse> sequences = new ArrayList<>(prepared.sequences);
    long t0 = System.nanoTime();
    List<PromptResponse> referenceInput = new ArrayList<>(sequences);
    referenceInput.addAll(prepared.mismatched);
    double[] ref = reference.logProbs(referenceInput).sums();
    long t1 = System.nanoTime();
    double[] policyMismatched = prepared.mismatched.isEmpty()
        ? new double[0] : policy.logProbs(prepared.mismatched).sums();
    ForwardPass pass = policy.forward(sequences, config.gradMode(), config.recompute());
    SequenceLogProbs lp = pass.result();

    double[] dSum = new double[sequences.size()];
    Map<String, Double> metrics = new LinkedHashMap<>();
    double loss = 0;
    boolean finite = true;
    double pairShare = (double) p / (p + u);
    double thumbShare = (double) u / (p + u);
    if (p > 0) {
      int[] tokC = new int[p], tokR = new int[p];
      double[] pc = new double[p], pr = new double[p], rc = new double[p], rr = new double[p];
      double[] w = new double[p];
      for (int i = 0; i < p; i++) {
        pc[i] = lp.sum(i);
        pr[i] = lp.sum(p + i);
        rc[i] = ref[i];
        rr[i] = ref[p + i];
        tokC[i] = lp.tokenCounts()[i];
        tokR[i] = lp.tokenCounts()[p + i];
        w[i] = prepared.pairWeights.get(i);
      }
      PreferenceBatch pb = new PreferenceBatch(pc, pr, rc, rr, tokC, tokR, w);
      PairResult result = pairObjective.evaluate(pb);
      if (sft != null) result = sft.addTo(result, pb);
      finite &= result.isFinite();
      loss += pairShare * result.loss();
      for (int i = 0; i < p; i++) {
        dSum[i] = pairShare * result.gradPolicyChosen()[i];
        dSum[p + i] = pairShare * result.gradPolicyRejected()[i];
      }
      metrics.putAll(result.metrics());
    }
    if (u > 0) {
      int base = 2 * p;
      double[] pol = new double[u], rf = new double[u], w = new double[u];
      boolean[] good = new boolean[u];
      int[] tok = new int[u];
      for (int i = 0; i < u; i++) {
        pol[i] = lp.sum(base + i);
        rf[i] = ref[base + i];
        tok[i] = lp.tokenCounts()[base + i];
        good[i] = prepared.desirable.get(i);
        w[i] = prepared.thumbWeights.get(i);
      }
      double[] refMismatched = new double[prepared.mismatched.size()];
      System.arraycopy(ref, sequences.size(), refMismatched, 0, refMismatched.length);
      KtoBatch kb = new KtoBatch(pol, rf, good, tok, w, policyMismatched, refMismatched);
      KtoResult result = ktoObjective.evaluate(kb);
      if (sft != null) result = sft.addTo(result, kb);
      finite &= result.isFinite();
      loss += thumbShare * result.loss();
      for (int i = 0; i < u; i++) dSum[base + i] = thumbShare * result.gradPolicy()[i];
      // Pairs own TRL's plain names when both are present; KTO's then carry a "kto/" prefix.
      String prefix = p > 0 ? "kto/" : "";
      result.metrics().forEach((k, v) -> metrics.put(prefix + k, v));
    }
    metrics.put(MetricNames.LOSS, loss);
    if (!finite || !Double.isFinite(loss)) {
      long t2 = System.nanoTime();
      log.warn("batch {} skipped: non-finite loss ({})", batch.id(), loss);
      return new StepOutcome(StepOutcome.Status.SKIPPED_NON_FINITE_LOSS, optimizer.stepCount(), prepared.examples(),
          prepared.droppedStale, prepared.droppedInvalid, finiteOnly(metrics),
          new StepOutcome.Timings(t1 - t0, t2 - t1, 0));
    }
    policy.zeroGrad(config.gradMode());
    pass.backward(dSum);
    long t2 = System.nanoTime();
    if (bridge != null) bridge.gradientsToHost();
    StepResult r = optimizer.step();
    metrics.put(MetricNames.GRAD_NORM, r.gradNorm());
    if (!r.applied()) {
      long t3 = System.nanoTime();
      log.warn("batch {} skipped: non-finite gradient norm ({})", batch.id(), r.gradNorm());
      return new StepOutcome(StepOutcome.Status.SKIPPED_NON_FINITE_GRAD, optimizer.stepCount(), prepared.examples(),
          prepared.droppedStale, prepared.droppedInvalid, finiteOnly(metrics),
          new StepOutcome.Timings(t1 - t0, t2 - t1, t3 - t2));
    }
    if (bridge != null) bridge.valuesToModel();
    long t3 = System.nanoTime();
    metrics.put("learning_rate", r.learningRate());
    return new StepOutcome(StepOutcome.Status.APPLIED, optimizer.stepCount(), prepared.examples(),
        prepared.droppedStale, prepared.droppedInvalid, metrics, new StepOutcome.Timings(t1 - t0, t2 - t1, t3 - t2));
  }

  private static Map<String, Double> finiteOnly(Map<String, Double> metrics) {
    Map<String, Double> out = new LinkedHashMap<>();
    metrics.forEach((k, v) -> {
      if (Double.isFinite(v)) out.put(k, v);
    });
    return out;
  }

  /** The tokenised, weighted examples of a batch: pairs' chosen, pairs' rejected, then thumbs. */
  private record Prepared(List<PromptResponse> sequences, List<Double> pairWeights, List<Double> thumbWeights,
      List<Boolean> desirable, List<PromptResponse> mismatched, int droppedStale, int droppedInvalid) {
    int examples() {
      return pairWeights.size() + thumbWeights.size();
    }
  }

  private Prepared prepare(TrainingBatch batch, long currentVersion) {
    List<PromptResponse> chosen = new ArrayList<>(), rejected = new ArrayList<>(), thumbs = new ArrayList<>();
    List<Double> pairWeights = new ArrayList<>(), thumbWeights = new ArrayList<>();
    List<Boolean> desirable = new ArrayList<>();
    List<Content> thumbPrompts = new ArrayList<>(), thumbResponses = new ArrayList<>();
    int stale = 0, invalid = 0;
    for (TrainingBatch.Pair pair : batch.pairs()) {
      double w = config.staleness().weight(pair.policyVersion(), currentVersion);
      if (w == 0) {
        stale++;
        continue;
      }
      try {
        PromptResponse c = encoder.encode(pair.prompt(), pair.chosen());
        PromptResponse r = encoder.encode(pair.prompt(), pair.rejected());
        chosen.add(c);
        rejected.add(r);
        pairWeights.add(w);
      } catch (IllegalArgumentException e) {
        log.warn("batch {}: pair left out: {}", batch.id(), e.getMessage());
        invalid++;
      }
    }
    for (TrainingBatch.Thumb thumb : batch.thumbs()) {
      double w = config.staleness().weight(thumb.policyVersion(), currentVersion);
      if (w == 0) {
        stale++;
        continue;
      }
      try {
        thumbs.add(encoder.encode(thumb.prompt(), thumb.response()));
        thumbWeights.add(w);
        desirable.add(thumb.desirable());
        thumbPrompts.add(thumb.prompt());
        thumbResponses.add(thumb.response());
      } catch (IllegalArgumentException e) {
        log.warn("batch {}: thumb left out: {}", batch.id(), e.getMessage());
        invalid++;
      }
    }
    List<PromptResponse> mismatched = new ArrayList<>();
    if (thumbs.size() >= 2) {
      // KTO's KL reference point: prompt i with the response of example j = i - 1 (cyclically).
      int[] j = KtoObjective.mismatchedIndex(thumbs.size());
      for (int i = 0; i < thumbs.size(); i++) {
        try {
          mismatched.add(encoder.encode(thumbPrompts.get(i), thumbResponses.get(j[i])));
        } catch (IllegalArgumentException e) {
          throw new InvalidBatchException("batch " + batch.id() + ": KTO's mismatched prompt/response pair " + i
              + " cannot be encoded: " + e.getMessage(), e);
        }
      }
    }
    List<PromptResponse> sequences = new ArrayList<>(chosen);
    sequences.addAll(rejected);
    sequences.addAll(thumbs);
    return new Prepared(sequences, pairWeights, thumbWeights, desirable, mismatched, stale, invalid);
  }
}
