package io.prefstream.deploy.cli;

import io.prefstream.learner.optim.AdamWConfig;
import io.prefstream.learner.optim.LrSchedule;
import io.prefstream.learner.trainer.Staleness;
import io.prefstream.learner.trainer.TrainerConfig;
import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.backend.Backend;
import io.prefstream.model.train.GradMode;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/**
 * The training settings {@code prefstream learn} and {@code prefstream train} share (a picocli
 * mixin): base model, checkpoint store, policy id, objective, sequence lengths, LoRA or FULL,
 * optimiser, schedule and staleness. {@link #trainerConfig} turns them into the learner's
 * {@link TrainerConfig}; an impossible value is reported as a usage error naming the option.
 */
public final class TrainingOptions {
  @Option(names = "--model", paramLabel = "DIR", required = true,
      description = "Base model directory (Hugging Face layout: config.json, model.safetensors, tokenizer.json).")
  Path model;

  @Option(names = "--checkpoints", paramLabel = "DIR", defaultValue = "prefstream-checkpoints",
      description = "Checkpoint store root; versions go to DIR/<policy>/<version>/. Default: ${DEFAULT-VALUE}.")
  Path checkpoints;

  @Option(names = "--policy-id", paramLabel = "ID", defaultValue = "default",
      description = "Policy to train (key of its batches and updates). Default: ${DEFAULT-VALUE}.")
  String policyId;

  @Option(names = "--device", paramLabel = "auto|cpu|cuda", defaultValue = "auto",
      description = "Compute backend: cuda, cpu, or auto (cuda when a GPU and the CUDA libraries are found, else cpu;"
          + " it says which on stderr). The optimiser runs on the host either way. Default: ${DEFAULT-VALUE}.")
  String device;

  @Option(names = "--loss-type", paramLabel = "TYPE", defaultValue = TrainerConfig.DEFAULT_LOSS_TYPE,
      description = "Pair objective, TRL's loss_type: sigmoid (DPO; conservative DPO with --label-smoothing),"
          + " robust, hinge, ipo. Default: ${DEFAULT-VALUE}.")
  String lossType;

  @Option(names = "--beta", paramLabel = "B", defaultValue = "" + TrainerConfig.DEFAULT_BETA,
      description = "β: inverse temperature of DPO/KTO (IPO: τ). Default: ${DEFAULT-VALUE}.")
  double beta;

  @Option(names = "--label-smoothing", paramLabel = "EPS", defaultValue = "0",
      description = "Label smoothing of conservative/robust DPO, in [0, 0.5). Default: ${DEFAULT-VALUE}.")
  double labelSmoothing;

  @Option(names = "--kto-desirable-weight", paramLabel = "W", defaultValue = "1",
      description = "KTO λ_D for thumbs up. Default: ${DEFAULT-VALUE}.")
  double ktoDesirableWeight;

  @Option(names = "--kto-undesirable-weight", paramLabel = "W", defaultValue = "1",
      description = "KTO λ_U for thumbs down. Default: ${DEFAULT-VALUE}.")
  double ktoUndesirableWeight;

  @Option(names = "--sft-alpha", paramLabel = "A", defaultValue = "0",
      description = "Weight of an SFT (NLL) term on chosen/desirable responses; 0 turns it off. Default: ${DEFAULT-VALUE}.")
  double sftAlpha;

  @Option(names = "--max-length", paramLabel = "N", defaultValue = "" + TrainerConfig.DEFAULT_MAX_LENGTH,
      description = "Most tokens of prompt + response; the response is cut at the end. Default: ${DEFAULT-VALUE}.")
  int maxLength;

  @Option(names = "--max-prompt-length", paramLabel = "N", defaultValue = "" + TrainerConfig.DEFAULT_MAX_PROMPT_LENGTH,
      description = "Most prompt tokens (BOS included); the prompt keeps its end. Default: ${DEFAULT-VALUE}.")
  int maxPromptLength;

  @Option(names = "--mode", paramLabel = "LORA|FULL", defaultValue = "LORA",
      description = "Train a LoRA adapter or every weight (small models). Default: ${DEFAULT-VALUE}.")
  GradMode mode;

  @Option(names = "--lora-rank", paramLabel = "R", defaultValue = "" + TrainerConfig.DEFAULT_LORA_RANK,
      description = "LoRA rank r of a new adapter. Default: ${DEFAULT-VALUE}.")
  int loraRank;

  @Option(names = "--lora-alpha", paramLabel = "A", defaultValue = "16",
      description = "LoRA alpha (scaling alpha/r). Default: ${DEFAULT-VALUE}.")
  double loraAlpha;

  @Option(names = "--lora-targets", paramLabel = "MODULES", split = ",",
      defaultValue = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
      description = "Projections the adapter adapts. Default: ${DEFAULT-VALUE}.")
  List<String> loraTargets;

  @Option(names = "--lora-seed", paramLabel = "SEED", defaultValue = "0",
      description = "Seed of a new adapter's A matrices. Default: ${DEFAULT-VALUE}.")
  long loraSeed;

  @Option(names = "--learning-rate", paramLabel = "LR", defaultValue = "" + TrainerConfig.DEFAULT_LEARNING_RATE,
      description = "Peak learning rate. Default: ${DEFAULT-VALUE}.")
  double learningRate;

  @Option(names = "--warmup-steps", paramLabel = "N", defaultValue = "" + TrainerConfig.DEFAULT_WARMUP_STEPS,
      description = "Linear warm-up steps. Default: ${DEFAULT-VALUE}.")
  long warmupSteps;

  @Option(names = "--weight-decay", paramLabel = "L", defaultValue = "0",
      description = "AdamW decoupled weight decay. Default: ${DEFAULT-VALUE}.")
  double weightDecay;

  @Option(names = "--max-grad-norm", paramLabel = "N", defaultValue = "1.0",
      description = "Global gradient-norm clip; 'Infinity' turns it off. Default: ${DEFAULT-VALUE}.")
  double maxGradNorm;

  @Option(names = "--recompute", defaultValue = "false",
      description = "Recompute activations in the backward pass (less memory, about one more forward).")
  boolean recompute;

  @Option(names = "--staleness-max-lag", paramLabel = "K", defaultValue = "8",
      description = "Examples from a policy version more than K versions behind are stale; -1: never."
          + " Default: ${DEFAULT-VALUE}.")
  long stalenessMaxLag;

  @Option(names = "--staleness-mode", paramLabel = "DOWNWEIGHT|DROP", defaultValue = "DOWNWEIGHT",
      description = "What happens to stale examples. Default: ${DEFAULT-VALUE}.")
  Staleness.Mode stalenessMode;

  @Option(names = "--stale-weight", paramLabel = "W", defaultValue = "0.5",
      description = "Loss weight of a stale example under DOWNWEIGHT, in [0, 1]. Default: ${DEFAULT-VALUE}.")
  double staleWeight;

  /** The backend --device names. */
  Backend backend(CommandLine cmd) {
    return LoadedModel.chooseDevice(device, cmd);
  }

  /** The trainer settings, with {@code schedule} as the learning-rate schedule. */
  TrainerConfig trainerConfig(CommandLine cmd, LrSchedule schedule) {
    ModelDirectory.require(cmd, "--model", model);
    try {
      return TrainerConfig.builder()
          .lossType(lossType).beta(beta).labelSmoothing(labelSmoothing)
          .ktoWeights(ktoDesirableWeight, ktoUndesirableWeight).sftAlpha(sftAlpha)
          .maxLength(maxLength).maxPromptLength(maxPromptLength)
          .gradMode(mode)
          .lora(new LoraConfig(loraRank, loraAlpha, new LinkedHashSet<>(loraTargets), 0))
          .loraSeed(loraSeed).recompute(recompute)
          .adamW(AdamWConfig.defaults().withWeightDecay(weightDecay).withMaxGradNorm(maxGradNorm))
          .schedule(schedule)
          .staleness(new Staleness(stalenessMaxLag, stalenessMode, staleWeight))
          .build();
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(cmd, "invalid training setting: " + e.getMessage());
    }
  }

  /** Warm-up then constant at --learning-rate (the online schedule). */
  LrSchedule constantSchedule(CommandLine cmd) {
    try {
      return new LrSchedule.WarmupConstant(learningRate, warmupSteps);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(cmd, "invalid --learning-rate/--warmup-steps: " + e.getMessage());
    }
  }
}
