package io.prefstream.model.policy;

import io.prefstream.model.checkpoint.Checkpoint;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.io.HfModelDir;
import io.prefstream.model.io.ModelFormatException;
import io.prefstream.model.peft.PeftAdapter;
import io.prefstream.model.peft.PeftAdapters;
import io.prefstream.model.safetensors.DType;
import io.prefstream.model.tensor.NamedTensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

/**
 * The layout of one policy version inside a {@link CheckpointStore}, shared by the learner (which
 * writes it) and the serving replicas (which load it):
 * <ul>
 *   <li>LORA: {@code adapter_config.json} + {@code adapter_model.safetensors} in PEFT's format, so
 *       Hugging Face PEFT and vLLM can load the directory as it is;</li>
 *   <li>FULL: {@code config.json} + {@code model.safetensors} in Hugging Face's layout;</li>
 *   <li>{@code optimizer.bin} (optional): the optimiser state, opaque to this class;</li>
 *   <li>{@code trainer_state.json}: step, consumer offsets, reference id, metrics.</li>
 * </ul>
 * Weights are stored in float32 so that a restart resumes bit for bit. Loading verifies the
 * manifest (by the store), that every tensor has the shape the base model implies, and that every
 * value is finite; anything else is refused with a message that names the checkpoint and the
 * tensor.
 */
public final class PolicyCheckpoint {
  public static final String LORA = "LORA";
  public static final String FULL = "FULL";
  public static final String OPTIMIZER = "optimizer.bin";

  private PolicyCheckpoint() {}

  /** What a checkpoint holds once verified: the adapter or the full weights, and the trainer state. */
  public record Loaded(Checkpoint checkpoint, TrainerState state, Optional<PeftAdapter> adapter,
      Optional<Map<String, NamedTensor>> fullWeights, Optional<Path> optimizerState) {
    public boolean isLora() {
      return adapter.isPresent();
    }
  }

  /** Writes a LoRA version: the PEFT adapter, optional optimiser state bytes and the trainer state. */
  public static Checkpoint writeLora(CheckpointStore store, String policy, long version, PeftAdapter adapter,
      byte[] optimizerState, TrainerState state) throws IOException {
    if (!LORA.equals(state.format())) throw new IllegalArgumentException("trainer state says " + state.format() + ", writing LORA");
    requireFinite(adapter.tensors(), "adapter for " + policy + " v" + version);
    return store.write(policy, version, LORA, dir -> {
      PeftAdapters.write(dir, adapter, DType.F32);
      writeCommon(dir, optimizerState, state);
    });
  }

  /** Writes a FULL version: every weight in Hugging Face's layout, optional optimiser state, trainer state. */
  public static Checkpoint writeFull(CheckpointStore store, String policy, long version, LlamaConfig config,
      Map<String, NamedTensor> weights, byte[] optimizerState, TrainerState state) throws IOException {
    if (!FULL.equals(state.format())) throw new IllegalArgumentException("trainer state says " + state.format() + ", writing FULL");
    requireFinite(weights, "weights for " + policy + " v" + version);
    return store.write(policy, version, FULL, dir -> {
      HfModelDir.write(dir, config, weights, DType.F32);
      writeCommon(dir, optimizerState, state);
    });
  }

  private static void writeCommon(Path dir, byte[] optimizerState, TrainerState state) throws IOException {
    if (optimizerState != null) Files.write(dir.resolve(OPTIMIZER), optimizerState);
    Files.write(dir.resolve(TrainerState.FILE), state.toJson());
  }

  /** Opens (manifest verified) and loads a version, checking shapes against {@code base} and finiteness. */
  public static Loaded load(CheckpointStore store, String policy, long version, LlamaConfig base) throws IOException {
    return load(store.open(policy, version), base);
  }

  /** Loads an already opened (manifest-verified) checkpoint, checking shapes against {@code base} and finiteness. */
  public static Loaded load(Checkpoint cp, LlamaConfig base) throws IOException {
    String where = "checkpoint " + cp.uri();
    TrainerState state = TrainerState.fromJson(Files.readAllBytes(cp.file(TrainerState.FILE)), where + "/" + TrainerState.FILE);
    if (!state.format().equals(cp.format())) {
      throw new ModelFormatException(where + ": manifest says format " + cp.format() + " but trainer state says " + state.format());
    }
    Optional<Path> opt = cp.manifest().files().containsKey(OPTIMIZER) ? Optional.of(cp.file(OPTIMIZER)) : Optional.empty();
    if (LORA.equals(cp.format())) {
      PeftAdapter adapter = PeftAdapters.read(cp.dir(), base);
      requireFinite(adapter.tensors(), where);
      return new Loaded(cp, state, Optional.of(adapter), Optional.empty(), opt);
    }
    Map<String, NamedTensor> weights = HfModelDir.loadWeights(cp.dir(), base);
    requireFinite(weights, where);
    return new Loaded(cp, state, Optional.empty(), Optional.of(weights), opt);
  }

  /** Refuses a NaN or infinity anywhere, naming the tensor and the first bad index. */
  public static void requireFinite(Map<String, NamedTensor> tensors, String where) throws ModelFormatException {
    for (NamedTensor t : tensors.values()) {
      float[] d = t.data();
      for (int i = 0; i < d.length; i++) {
        if (!Float.isFinite(d[i])) {
          throw new ModelFormatException(where + ": tensor " + t.name() + " holds a non-finite value (" + d[i] + ") at index " + i);
        }
      }
    }
  }
}
