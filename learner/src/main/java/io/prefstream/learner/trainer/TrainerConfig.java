package io.prefstream.learner.trainer;

import io.prefstream.learner.objective.KtoObjective;
import io.prefstream.learner.objective.PairObjective;
import io.prefstream.learner.objective.SftTerm;
import io.prefstream.learner.optim.AdamWConfig;
import io.prefstream.learner.optim.LrSchedule;
import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.train.GradMode;
import java.util.Objects;

/**
 * Everything that decides what one training step does: the objective (TRL's {@code loss_type},
 * β, label smoothing; KTO's desirable/undesirable weights; the SFT term's α), sequence building
 * (max lengths, EOS), what is trained ({@link GradMode#LORA} with {@code lora}, or FULL), the
 * optimiser and its learning-rate schedule, and the staleness rule. Built with {@link #builder()},
 * whose defaults are the online learner's (see the settings table in the README).
 */
public record TrainerConfig(
    String lossType,
    double beta,
    double labelSmoothing,
    double ktoDesirableWeight,
    double ktoUndesirableWeight,
    double sftAlpha,
    int maxLength,
    int maxPromptLength,
    GradMode gradMode,
    LoraConfig lora,
    long loraSeed,
    boolean recompute,
    AdamWConfig adamW,
    LrSchedule schedule,
    Staleness staleness) {

  public static final String DEFAULT_LOSS_TYPE = "sigmoid";
  public static final double DEFAULT_BETA = 0.1;
  public static final int DEFAULT_MAX_LENGTH = 512;
  public static final int DEFAULT_MAX_PROMPT_LENGTH = 256;
  public static final double DEFAULT_LEARNING_RATE = 1e-4;
  public static final long DEFAULT_WARMUP_STEPS = 10;
  public static final int DEFAULT_LORA_RANK = 8;
  public static final double DEFAULT_LORA_ALPHA = 16;

  public TrainerConfig {
    Objects.requireNonNull(gradMode, "gradMode");
    Objects.requireNonNull(adamW, "adamW");
    Objects.requireNonNull(schedule, "schedule");
    Objects.requireNonNull(staleness, "staleness");
    if (gradMode == GradMode.LORA && lora == null) {
      throw new IllegalArgumentException("LORA training needs a LoRA config (rank, alpha, targets)");
    }
    if (maxLength < 2) {
      throw new IllegalArgumentException("max length " + maxLength + ": expected at least 2 tokens");
    }
    // Validates the objective settings now, at the boundary, rather than at the first batch.
    // (The accessors are not assigned yet inside a compact constructor: use the parameters.)
    PairObjective.of(lossType, beta, labelSmoothing);
    new KtoObjective(beta, ktoDesirableWeight, ktoUndesirableWeight);
    new SftTerm(sftAlpha);
  }

  /** The DPO-family objective these settings name. */
  public PairObjective pairObjective() {
    return PairObjective.of(lossType, beta, labelSmoothing);
  }

  /** KTO with these settings' β and weights. */
  public KtoObjective ktoObjective() {
    return new KtoObjective(beta, ktoDesirableWeight, ktoUndesirableWeight);
  }

  public static Builder builder() {
    return new Builder();
  }

  /** A builder starting from these settings. */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.lossType = lossType;
    b.beta = beta;
    b.labelSmoothing = labelSmoothing;
    b.ktoDesirableWeight = ktoDesirableWeight;
    b.ktoUndesirableWeight = ktoUndesirableWeight;
    b.sftAlpha = sftAlpha;
    b.maxLength = maxLength;
    b.maxPromptLength = maxPromptLength;
    b.gradMode = gradMode;
    b.lora = lora;
    b.loraSeed = loraSeed;
    b.recompute = recompute;
    b.adamW = adamW;
    b.schedule = schedule;
    b.staleness = staleness;
    return b;
  }

  /** Builder with the online defaults: DPO (sigmoid) β 0.1, LoRA r 8 α 16 on every projection, AdamW lr 1e-4 after 10 warm-up steps. */
  public static final class Builder {
    private String lossType = DEFAULT_LOSS_TYPE;
    private double beta = DEFAULT_BETA;
    private double labelSmoothing = 0;
    private double ktoDesirableWeight = 1;
    private double ktoUndesirableWeight = 1;
    private double sftAlpha = 0;
    private int maxLength = DEFAULT_MAX_LENGTH;
    private int maxPromptLength = DEFAULT_MAX_PROMPT_LENGTH;
    private GradMode gradMode = GradMode.LORA;
    private LoraConfig lora = new LoraConfig(DEFAULT_LORA_RANK, DEFAULT_LORA_ALPHA, LoraConfig.ALL_TARGETS, 0);
    private long loraSeed = 0;
    private boolean recompute = false;
    private AdamWConfig adamW = AdamWConfig.defaults();
    private LrSchedule schedule = new LrSchedule.WarmupConstant(DEFAULT_LEARNING_RATE, DEFAULT_WARMUP_STEPS);
    private Staleness staleness = new Staleness(8, Staleness.Mode.DOWNWEIGHT, 0.5);

    public Builder lossType(String v) { lossType = v; return this; }
    public Builder beta(double v) { beta = v; return this; }
    public Builder labelSmoothing(double v) { labelSmoothing = v; return this; }
    public Builder ktoWeights(double desirable, double undesirable) {
      ktoDesirableWeight = desirable;
      ktoUndesirableWeight = undesirable;
      return this;
    }
    public Builder sftAlpha(double v) { sftAlpha = v; return this; }
    public Builder maxLength(int v) { maxLength = v; return this; }
    public Builder maxPromptLength(int v) { maxPromptLength = v; return this; }
    public Builder gradMode(GradMode v) { gradMode = v; return this; }
    public Builder lora(LoraConfig v) { lora = v; return this; }
    public Builder loraSeed(long v) { loraSeed = v; return this; }
    public Builder recompute(boolean v) { recompute = v; return this; }
    public Builder adamW(AdamWConfig v) { adamW = v; return this; }
    public Builder schedule(LrSchedule v) { schedule = v; return this; }
    public Builder staleness(Staleness v) { staleness = v; return this; }

    public TrainerConfig build() {
      return new TrainerConfig(lossType, beta, labelSmoothing, ktoDesirableWeight, ktoUndesirableWeight, sftAlpha,
          maxLength, maxPromptLength, gradMode, lora, loraSeed, recompute, adamW, schedule, staleness);
    }
  }
}
