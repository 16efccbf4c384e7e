package io.prefstream.learner.policy;

import io.prefstream.learner.reference.PinnedReference;
import io.prefstream.learner.trainer.DpoTrainer;
import io.prefstream.learner.trainer.TrainerConfig;
import io.prefstream.model.backend.Backend;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.lora.LoraAdapter;
import io.prefstream.model.peft.PeftAdapter;
import io.prefstream.model.policy.PolicyCheckpoint;
import io.prefstream.model.policy.TrainerState;
import io.prefstream.model.train.GradMode;
import java.io.IOException;
import java.util.Objects;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A policy ready to train: the base model, the newest complete checkpoint of the policy (if any)
 * loaded onto it — adapter or full weights, optimiser state, trainer state — the reference that
 * checkpoint was trained against, and the {@link DpoTrainer} over it. Version 0 stands for the base
 * weights (never written as a checkpoint); the first trained version is 1, with no parent.
 * Used by the online learner and by offline training alike.
 */
public final class PolicySession {
  private static final Logger log = LoggerFactory.getLogger(PolicySession.class);

  private final HfModel base;
  private final Backend backend;
  private final CheckpointStore store;
  private final String policyId;
  private final DpoTrainer trainer;
  private final Optional<PolicyCheckpoint.Loaded> restored;

  private PolicySession(HfModel base, Backend backend, CheckpointStore store, String policyId, DpoTrainer trainer,
      Optional<PolicyCheckpoint.Loaded> restored) {
    this.base = base;
    this.backend = backend;
    this.store = store;
    this.policyId = policyId;
    this.trainer = trainer;
    this.restored = restored;
  }

  /** Opens {@code policyId} in {@code store} on top of {@code base}: resumes the newest good checkpoint or starts fresh. */
  public static PolicySession open(HfModel base, Backend backend, CheckpointStore store, String policyId,
      TrainerConfig config) throws IOException {
    return open(base, backend, store, policyId, config, null);
  }

  /**
   * {@link #open(HfModel, Backend, CheckpointStore, String, TrainerConfig)} for one of several
   * policies trained in one process: with LoRA, the policy's model is a sibling of {@code shared}
   * (made from {@code base} on {@code backend}), so the base weights are in memory once.
   */
  public static PolicySession open(HfModel base, Backend backend, CheckpointStore store, String policyId,
      TrainerConfig config, LlamaModel shared) throws IOException {
    Objects.requireNonNull(base, "base");
    LlamaConfig cfg = base.config();
    Optional<PolicyCheckpoint.Loaded> loaded = LearnerCheckpoints.loadNewest(store, policyId, cfg);
    LlamaModel model;
    if (loaded.isPresent()) {
      PolicyCheckpoint.Loaded l = loaded.get();
      boolean lora = l.isLora();
      if (lora != (config.gradMode() == GradMode.LORA)) {
        throw new IllegalStateException("policy '" + policyId + "' v" + l.checkpoint().version() + " is a "
            + l.checkpoint().format() + " checkpoint but training is configured as " + config.gradMode()
            + "; use the same mode or a new policy id");
      }
      if (lora) {
        model = shared != null ? shared.sibling() : LlamaModel.create(cfg, base.weights(), backend);
        PeftAdapter a = l.adapter().orElseThrow();
        if (!a.config().equals(config.lora())) {
          log.info("policy {} resumes with the checkpoint's LoRA settings {} (configured {})", policyId, a.config(),
              config.lora());
        }
        model.attachLora(a.config(), a.tensors());
      } else {
        model = LlamaModel.create(cfg, l.fullWeights().orElseThrow(), backend);
      }
    } else {
      boolean lora = config.gradMode() == GradMode.LORA;
      model = lora && shared != null ? shared.sibling() : LlamaModel.create(cfg, base.weights(), backend);
      if (lora) model.attachNewLora(config.lora(), config.loraSeed());
    }
    PolicySession session = new PolicySession(base, backend, store, policyId, null, loaded);
    String refId = loaded.map(l -> l.state().referenceId()).orElse(PinnedReference.BASE_ID);
    PinnedReference reference = session.buildReference(model, config.gradMode(), refId);
    DpoTrainer trainer = new DpoTrainer(model, base.tokenizer(), config, reference);
    if (loaded.isPresent() && loaded.get().optimizerState().isPresent()) {
      trainer.loadOptimizerState(loaded.get().optimizerState().get());
    }
    loaded.ifPresentOrElse(
        l -> log.info("policy {} resumed from v{} (step {}, reference {})", policyId, l.checkpoint().version(),
            l.state().step(), l.state().referenceId()),
        () -> log.info("policy {} starts from the base weights (no checkpoint in {})", policyId, store.root()));
    return new PolicySession(base, backend, store, policyId, trainer, loaded);
  }

  public DpoTrainer trainer() {
    return trainer;
  }

  public String policyId() {
    return policyId;
  }

  public CheckpointStore store() {
    return store;
  }

  public HfModel base() {
    return base;
  }

  /** The checkpoint this session resumed from, if any. */
  public Optional<PolicyCheckpoint.Loaded> restored() {
    return restored;
  }

  /** The restored trainer state, if any. */
  public Optional<TrainerState> restoredState() {
    return restored.map(PolicyCheckpoint.Loaded::state);
  }

  /** The version the weights were loaded from: the restored checkpoint's, or 0 for the base. */
  public long restoredVersion() {
    return restored.map(l -> l.checkpoint().version()).orElse(0L);
  }

  /**
   * The reference named by {@code id} ({@code base} or {@code v<N>}, N a checkpoint of this policy in
   * this store; {@code v0} is the base).
   */
  public PinnedReference reference(String id) throws IOException {
    return buildReference(trainer.policy(), trainer.config().gradMode(), id);
  }

  private PinnedReference buildReference(LlamaModel policyModel, GradMode mode, String id) throws IOException {
    Long version = PinnedReference.parseId(id);
    LlamaConfig cfg = base.config();
    if (version == null || version == 0) {
      return mode == GradMode.LORA
          ? PinnedReference.base(policyModel)
          : PinnedReference.separate(LlamaModel.create(cfg, base.weights(), backend), PinnedReference.BASE_ID);
    }
    PolicyCheckpoint.Loaded pinned = PolicyCheckpoint.load(store, policyId, version, cfg);
    if (pinned.isLora()) {
      PeftAdapter a = pinned.adapter().orElseThrow();
      LoraAdapter adapter = LoraAdapter.fromTensors(cfg, a.config(), a.tensors(), backend);
      if (mode == GradMode.LORA) return PinnedReference.adapter(policyModel, adapter, version);
      LlamaModel m = LlamaModel.create(cfg, base.weights(), backend);
      m.attachLora(adapter);
      return PinnedReference.separate(m, PinnedReference.versionId(version));
    }
    return PinnedReference.separate(LlamaModel.create(cfg, pinned.fullWeights().orElseThrow(), backend),
        PinnedReference.versionId(version));
  }
}
