package io.prefstream.learner.reference;

import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.llama.SequenceLogProbs;
import io.prefstream.model.lora.LoraAdapter;
import java.util.List;
import java.util.Objects;

/**
 * The frozen model DPO and KTO measure the policy against: the base weights, or the base plus a
 * pinned adapter, or (FULL training) a separate set of full weights. It only scores sequences,
 * without gradients. For LoRA training it shares the policy's model and base weights: scoring swaps
 * the pinned adapter in (or detaches the policy's) for the pass and puts the policy's adapter back,
 * so the base weights are in memory once.
 *
 * <p>The {@link #id()} is what checkpoints and PolicyUpdates record: {@value #BASE_ID} for the base
 * weights, {@code v<N>} for version N of the same policy (its adapter or full weights).
 */
public final class PinnedReference {
  public static final String BASE_ID = "base";

  private final LlamaModel model;
  private final LoraAdapter adapter;
  private final boolean sharedWithPolicy;
  private final String id;

  private PinnedReference(LlamaModel model, LoraAdapter adapter, boolean sharedWithPolicy, String id) {
    this.model = Objects.requireNonNull(model, "model");
    this.adapter = adapter;
    this.sharedWithPolicy = sharedWithPolicy;
    this.id = Objects.requireNonNull(id, "id");
  }

  /** The base weights of a LoRA-trained policy model (scored with its adapter detached). */
  public static PinnedReference base(LlamaModel policyModel) {
    return new PinnedReference(policyModel, null, true, BASE_ID);
  }

  /** The base weights plus a pinned adapter, on the LoRA-trained policy's model. */
  public static PinnedReference adapter(LlamaModel policyModel, LoraAdapter pinned, long version) {
    return new PinnedReference(policyModel, Objects.requireNonNull(pinned, "pinned adapter"), true, versionId(version));
  }

  /** A model of its own (FULL training: base or pinned full weights), scored as it is. */
  public static PinnedReference separate(LlamaModel referenceModel, String id) {
    return new PinnedReference(referenceModel, null, false, id);
  }

  /** {@code v<N>}. */
  public static String versionId(long version) {
    return "v" + version;
  }

  /** The version a reference id names, or null for {@value #BASE_ID}; refuses anything else. */
  public static Long parseId(String id) {
    if (BASE_ID.equals(id)) return null;
    if (id != null && id.matches("v(0|[1-9][0-9]{0,18})")) return Long.parseLong(id.substring(1));
    throw new IllegalArgumentException("reference id '" + id + "': expected 'base' or 'v<version>'");
  }

  public String id() {
    return id;
  }

  /** Summed response log-probs of each sequence under the reference (no gradients). */
  public SequenceLogProbs logProbs(List<PromptResponse> sequences) {
    if (!sharedWithPolicy) {
      return model.logProbs(sequences);
    }
    LoraAdapter policyAdapter = model.lora().orElse(null);
    try {
      if (adapter == null) {
        model.detachLora();
      } else {
        model.attachLora(adapter);
      }
      return model.logProbs(sequences);
    } finally {
      if (policyAdapter != null) {
        model.attachLora(policyAdapter);
      } else {
        model.detachLora();
      }
    }
  }
}
