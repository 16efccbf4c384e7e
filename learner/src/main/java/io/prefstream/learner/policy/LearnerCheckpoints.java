package io.prefstream.learner.policy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import io.prefstream.learner.trainer.AppliedBatch;
import io.prefstream.learner.trainer.DpoTrainer;
import io.prefstream.model.checkpoint.Checkpoint;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.io.HfModelDir;
import io.prefstream.model.io.ModelFormatException;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.lora.LoraAdapter;
import io.prefstream.model.peft.PeftAdapter;
import io.prefstream.model.peft.PeftAdapters;
import io.prefstream.model.policy.PolicyCheckpoint;
import io.prefstream.model.policy.TrainerState;
import io.prefstream.model.safetensors.DType;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.model.train.GradMode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes and finds the learner's checkpoints in {@link PolicyCheckpoint}'s layout (PEFT adapter or
 * HF weights in float32, {@code optimizer.bin}, {@code trainer_state.json}) plus
 * {@value #BATCHES}: the input batches consumed since the parent version, with what each did
 * ({@link AppliedBatch}). Everything goes through {@link CheckpointStore#write}, so a version is
 * complete and fsynced before it exists.
 */
public final class LearnerCheckpoints {
  private static final Logger log = LoggerFactory.getLogger(LearnerCheckpoints.class);
  public static final String BATCHES = "batches.json";
  private static final ObjectMapper JSON = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();

  private LearnerCheckpoints() {}

  /**
   * Writes version {@code version} of {@code policy} from the trainer's current weights and optimiser
   * state. {@code tokenizerDir}, when given, is copied into FULL checkpoints so they load as a model
   * directory on their own.
   */
  public static Checkpoint write(CheckpointStore store, String policy, long version, DpoTrainer trainer,
      TrainerState state, List<AppliedBatch> batches, Optional<String> baseModelName, Optional<Path> tokenizerDir)
      throws IOException {
    LlamaModel model = trainer.policy();
    byte[] optimizer = trainer.optimizerState();
    byte[] batchJson = batchesJson(batches);
    String where = "policy " + policy + " v" + version;
    if (trainer.config().gradMode() == GradMode.LORA) {
      LoraAdapter lora = model.lora().orElseThrow();
      PeftAdapter adapter = new PeftAdapter(lora.config(), lora.toTensors(), baseModelName);
      PolicyCheckpoint.requireFinite(adapter.tensors(), where);
      return store.write(policy, version, PolicyCheckpoint.LORA, dir -> {
        PeftAdapters.write(dir, adapter, DType.F32);
        common(dir, optimizer, state, batchJson);
      });
    }
    Map<String, NamedTensor> weights = model.exportWeights();
    PolicyCheckpoint.requireFinite(weights, where);
    return store.write(policy, version, PolicyCheckpoint.FULL, dir -> {
      HfModelDir.write(dir, model.config(), weights, DType.F32);
      if (tokenizerDir.isPresent()) HfModelDir.copyTokenizerFiles(tokenizerDir.get(), dir);
      common(dir, optimizer, state, batchJson);
    });
  }

  private static void common(Path dir, byte[] optimizer, TrainerState state, byte[] batches) throws IOException {
    Files.write(dir.resolve(PolicyCheckpoint.OPTIMIZER), optimizer);
    Files.write(dir.resolve(TrainerState.FILE), state.toJson());
    Files.write(dir.resolve(BATCHES), batches);
  }

  /**
   * The newest version that opens, verifies (manifest, shapes, finite values) and loads; a version
   * that fails is logged as a warning and the previous one is tried.
   */
  public static Optional<PolicyCheckpoint.Loaded> loadNewest(CheckpointStore store, String policy, LlamaConfig base)
      throws IOException {
    List<Long> versions = store.list(policy);
    for (int i = versions.size() - 1; i >= 0; i--) {
      long v = versions.get(i);
      try {
        return Optional.of(PolicyCheckpoint.load(store, policy, v, base));
      } catch (ModelFormatException | io.prefstream.model.checkpoint.CorruptCheckpointException e) {
        log.warn("skipping checkpoint {} v{}: {}", policy, v, e.getMessage());
      }
    }
    return Optional.empty();
  }

  /** The batches a checkpoint lists (empty for checkpoints written by others, without the file). */
  public static List<AppliedBatch> batches(Checkpoint checkpoint) throws IOException {
    if (!checkpoint.manifest().files().containsKey(BATCHES)) return List.of();
    JsonNode root = JSON.readTree(Files.readAllBytes(checkpoint.file(BATCHES)));
    if (root == null || !root.isArray()) {
      throw new ModelFormatException("checkpoint " + checkpoint.uri() + ": " + BATCHES + " is not a JSON array");
    }
    List<AppliedBatch> out = new ArrayList<>();
    for (JsonNode n : root) {
      out.add(new AppliedBatch(n.path("topic_partition").asText(), n.path("offset").asLong(-1),
          n.path("batch_id").asText(), n.path("outcome").asText()));
    }
    return out;
  }

  private static byte[] batchesJson(List<AppliedBatch> batches) throws IOException {
    ArrayNode a = JSON.createArrayNode();
    for (AppliedBatch b : batches) {
      a.addObject().put("topic_partition", b.topicPartition()).put("offset", b.offset())
          .put("batch_id", b.batchId()).put("outcome", b.outcome());
    }
    return JSON.writeValueAsBytes(a);
  }
}
