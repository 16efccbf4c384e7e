package io.prefstream.learner.loop;

import io.prefstream.learner.metrics.LearnerMetrics;
import io.prefstream.learner.policy.PolicySession;
import io.prefstream.learner.reference.PinnedReference;
import io.prefstream.learner.trainer.DpoTrainer;
import io.prefstream.schemas.avro.ControlCommand;
import io.prefstream.schemas.avro.Pause;
import io.prefstream.schemas.avro.PinReference;
import io.prefstream.schemas.avro.Resume;
import io.prefstream.schemas.serde.SingleObjectCodec;
import java.io.IOException;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies the {@code prefstream.control} commands of one policy and says what each changed, so the
 * learner can place its checkpoint boundary: Pause (no steps until Resume), Resume, and PinReference
 * (re-pins the trainer's reference to a checkpointed version of this policy, or to the base).
 * Records of other policies, undecodable records and unknown actions change nothing and are counted.
 * A pin to the reference already pinned changes nothing; a pin that cannot be resolved (no such
 * version, another lineage) is rejected with its reason. Owned by the learner's thread.
 */
final class ControlHandler {
  private static final Logger log = LoggerFactory.getLogger(ControlHandler.class);

  /** What a command changed. */
  enum Effect {
    NONE,
    PAUSED,
    RESUMED,
    /** The reference of every later step is a different one. */
    REPINNED
  }

  private final String policyId;
  private final PolicySession session;
  private final DpoTrainer trainer;
  private final LearnerMetrics metrics;
  private final SingleObjectCodec<ControlCommand> codec = new SingleObjectCodec<>(ControlCommand.class);
  private boolean paused;

  ControlHandler(String policyId, PolicySession session, DpoTrainer trainer, LearnerMetrics metrics) {
    this.policyId = policyId;
    this.session = session;
    this.trainer = trainer;
    this.metrics = metrics;
  }

  boolean paused() {
    return paused;
  }

  /** Applies the command in {@code r}, if it is one for this policy. */
  Effect apply(ConsumerRecord<String, byte[]> r) {
    if (!policyId.equals(r.key()) || r.value() == null) return Effect.NONE;
    ControlCommand cmd;
    try {
      cmd = codec.decode(r.value());
    } catch (RuntimeException e) {
      log.warn("{}-{} offset {}: undecodable control command, ignored: {}", r.topic(), r.partition(), r.offset(),
          e.getMessage());
      metrics.control("unknown", "undecodable");
      return Effect.NONE;
    }
    if (!policyId.equals(cmd.getPolicyId())) return Effect.NONE;
    return switch (cmd.getAction()) {
      case Pause p -> pause(cmd, true);
      case Resume x -> pause(cmd, false);
      case PinReference pin -> pin(cmd, pin.getVersion());
      default -> {
        log.warn("control command {} has an unknown action {}; ignored", cmd.getCommandId(), cmd.getAction());
        metrics.control("unknown", "rejected");
        yield Effect.NONE;
      }
    };
  }

  private Effect pause(ControlCommand cmd, boolean pause) {
    String action = pause ? "pause" : "resume";
    if (paused == pause) {
      metrics.control(action, "unchanged");
      return Effect.NONE;
    }
    paused = pause;
    metrics.paused(pause);
    metrics.control(action, "applied");
    log.info("policy {} {} by command {}", policyId, pause ? "paused" : "resumed", cmd.getCommandId());
    return pause ? Effect.PAUSED : Effect.RESUMED;
  }

  private Effect pin(ControlCommand cmd, Long version) {
    String id = version == null || version == 0 ? PinnedReference.BASE_ID : PinnedReference.versionId(version);
    if (id.equals(trainer.reference().id())) {
      metrics.control("pin_reference", "unchanged");
      return Effect.NONE;
    }
    PinnedReference ref;
    try {
      ref = session.reference(id);
    } catch (IOException | IllegalArgumentException e) {
      metrics.control("pin_reference", "rejected");
      log.error("policy {}: cannot pin reference {} (command {}): {}", policyId, id, cmd.getCommandId(), e.getMessage());
      return Effect.NONE;
    }
    trainer.setReference(ref);
    metrics.control("pin_reference", "applied");
    log.info("policy {}: reference re-pinned to {} by command {}", policyId, id, cmd.getCommandId());
    return Effect.REPINNED;
  }
}
