package io.prefstream.serving;

import io.prefstream.model.checkpoint.Checkpoint;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.generate.GenerationResult;
import io.prefstream.model.generate.Generator;
import io.prefstream.model.generate.SamplingParams;
import io.prefstream.model.io.ModelInit;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.peft.PeftAdapter;
import io.prefstream.model.policy.PolicyCheckpoint;
import io.prefstream.model.policy.TrainerState;
import io.prefstream.model.safetensors.DType;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.schemas.avro.CheckpointFormat;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.serving.registry.BaseModel;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;

/**
 * A tiny random model on disk, a checkpoint store, and LoRA versions strong enough that each
 * version's greedy output differs, so a response's text shows which version produced it.
 */
public final class Fixture {
  public static final LoraConfig LORA = new LoraConfig(4, 8, LoraConfig.ALL_TARGETS, 0);
  public final Path modelDir;
  public final CheckpointStore store;
  public final BaseModel base;

  /** The bundled assistant's chat template (user and assistant turns; it refuses any other role). */
  public static final Path ASSISTANT_TEMPLATE = Path.of("../models/assistant-tiny/chat_template.jinja");

  public Fixture(Path root) throws IOException {
    this(root, Optional.empty());
  }

  /** With {@code chatTemplate} (Jinja) written as the model's chat_template.jinja, when given. */
  public Fixture(Path root, Optional<String> chatTemplate) throws IOException {
    this.modelDir = root.resolve("model");
    ModelInit.writeRandomModel(modelDir, ModelPresets.tiny(), 11, List.of(), DType.F32);
    if (chatTemplate.isPresent()) java.nio.file.Files.writeString(modelDir.resolve("chat_template.jinja"), chatTemplate.get());
    this.store = new CheckpointStore(root.resolve("checkpoints"));
    this.base = BaseModel.load(modelDir, new CpuBackend());
  }

  /** A fixture whose model has the bundled assistant's chat template. */
  public static Fixture withAssistantTemplate(Path root) throws IOException {
    return new Fixture(root, Optional.of(java.nio.file.Files.readString(ASSISTANT_TEMPLATE)));
  }

  public LlamaConfig config() {
    return base.config();
  }

  /** Random A and B (std 0.5): the update is large enough to change greedy decoding. */
  public PeftAdapter adapter(long seed) {
    Map<String, NamedTensor> t = new LinkedHashMap<>();
    Random rnd = new Random(seed);
    LlamaConfig c = config();
    for (int l = 0; l < c.numLayers(); l++) {
      for (String m : LORA.targetModules()) {
        int[] dims = io.prefstream.model.lora.LoraAdapter.inOut(c, m);
        String a = PeftAdapter.loraA(l, m), b = PeftAdapter.loraB(l, m);
        t.put(a, new NamedTensor(a, new int[] {LORA.rank(), dims[0]}, gaussian(rnd, LORA.rank() * dims[0], 0.5)));
        t.put(b, new NamedTensor(b, new int[] {dims[1], LORA.rank()}, gaussian(rnd, dims[1] * LORA.rank(), 0.5)));
      }
    }
    return new PeftAdapter(LORA, t, Optional.of("tiny"));
  }

  private static float[] gaussian(Random rnd, int n, double std) {
    float[] x = new float[n];
    for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextGaussian() * std);
    return x;
  }

  /** Writes version {@code v} of {@code policy} (adapter seeded by v) and returns its update. */
  public PolicyUpdate writeVersion(String policy, long v, double evalAccuracy) throws IOException {
    TrainerState st = new TrainerState(v * 10, v * 100, Map.of("prefstream.batches-0", v), "base", v > 1 ? v - 1 : null,
        PolicyCheckpoint.LORA, Map.of("eval/rewards/accuracies", evalAccuracy));
    Checkpoint cp = PolicyCheckpoint.writeLora(store, policy, v, adapter(v), null, st);
    return update(cp, v, evalAccuracy);
  }

  public static PolicyUpdate update(Checkpoint cp, long v, double evalAccuracy) {
    return PolicyUpdate.newBuilder().setPolicyId(cp.policy()).setVersion(v).setParentVersion(v > 1 ? v - 1 : null)
        .setReferenceId("base").setCheckpointUri(cp.uri().toString()).setSha256(cp.manifestSha256())
        .setFormat(CheckpointFormat.LORA).setStep(v * 10).setExamplesSeen(v * 100)
        .setMetrics(Map.of("eval/rewards/accuracies", evalAccuracy)).setCreatedAt(Instant.now()).build();
  }

  /** The model of version {@code v} (0 = base), built directly, for expected outputs. */
  public LlamaModel model(long v) {
    LlamaModel m = LlamaModel.create(config(), base.weights(), base.backend());
    if (v > 0) m.attachLora(LORA, adapter(v).tensors());
    return m;
  }

  /** The greedy continuation of {@code prompt} by version {@code v}, as the server decodes it. */
  public String greedy(long v, String prompt, int maxNew) {
    int[] ids = base.tokenizer().encode(prompt, true);
    GenerationResult r = new Generator(model(v)).generate(ids, SamplingParams.greedy(maxNew, base.eosTokenId()),
        t -> base.tokenizer().decode(t, false), null);
    return r.text();
  }
}
