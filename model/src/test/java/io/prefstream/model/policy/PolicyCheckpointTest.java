package io.prefstream.model.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prefstream.model.checkpoint.Checkpoint;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.checkpoint.CorruptCheckpointException;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.io.ModelFormatException;
import io.prefstream.model.io.ModelInit;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.peft.PeftAdapter;
import io.prefstream.model.tensor.NamedTensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PolicyCheckpointTest {
  @TempDir Path root;

  private final LlamaConfig base = ModelPresets.tiny();

  private PeftAdapter adapter(long seed) {
    LoraConfig cfg = new LoraConfig(4, 8, Set.of("q_proj", "v_proj"), 0);
    Map<String, NamedTensor> t = new LinkedHashMap<>();
    Random rnd = new Random(seed);
    int c = base.hiddenSize();
    int kv = base.numKvHeads() * base.headDim(), q = base.numHeads() * base.headDim();
    for (int l = 0; l < base.numLayers(); l++) {
      for (String m : new String[] {"q_proj", "v_proj"}) {
        int out = m.equals("q_proj") ? q : kv;
        String a = PeftAdapter.loraA(l, m), b = PeftAdapter.loraB(l, m);
        t.put(a, new NamedTensor(a, new int[] {4, c}, randoms(rnd, 4 * c)));
        t.put(b, new NamedTensor(b, new int[] {out, 4}, randoms(rnd, out * 4)));
      }
    }
    return new PeftAdapter(cfg, t, Optional.of("tiny"));
  }

  private static float[] randoms(Random rnd, int n) {
    float[] x = new float[n];
    for (int i = 0; i < n; i++) x[i] = (float) rnd.nextGaussian();
    return x;
  }

  private static TrainerState state(String format) {
    return new TrainerState(12, 384, Map.of("prefstream.batches-0", 13L), "base", 3L, format,
        Map.of("loss", 0.61, "rewards/accuracies", 0.75));
  }

  @Test
  void loraVersionRoundTripsBitForBitWithItsTrainerStateAndOptimiser() throws Exception {
    CheckpointStore store = new CheckpointStore(root);
    PeftAdapter a = adapter(1);
    byte[] opt = {1, 2, 3, 4, 5};
    Checkpoint cp = PolicyCheckpoint.writeLora(store, "default", 4, a, opt, state(PolicyCheckpoint.LORA));

    PolicyCheckpoint.Loaded loaded = PolicyCheckpoint.load(store, "default", 4, base);

    assertThat(loaded.isLora()).isTrue();
    assertThat(loaded.state()).isEqualTo(state(PolicyCheckpoint.LORA));
    assertThat(loaded.adapter().orElseThrow().tensors()).isEqualTo(a.tensors());
    assertThat(Files.readAllBytes(loaded.optimizerState().orElseThrow())).containsExactly(opt);
    assertThat(loaded.checkpoint().manifestSha256()).isEqualTo(cp.manifestSha256());
    assertThat(cp.dir().resolve("adapter_config.json")).exists();
    assertThat(cp.dir().resolve("adapter_model.safetensors")).exists();
  }

  @Test
  void fullVersionRoundTrips() throws Exception {
    CheckpointStore store = new CheckpointStore(root);
    Map<String, NamedTensor> w = ModelInit.randomWeights(base, 7);
    PolicyCheckpoint.writeFull(store, "p1", 1, base, w, null, state(PolicyCheckpoint.FULL));

    PolicyCheckpoint.Loaded loaded = PolicyCheckpoint.load(store, "p1", 1, base);

    assertThat(loaded.isLora()).isFalse();
    assertThat(loaded.optimizerState()).isEmpty();
    for (NamedTensor t : w.values()) {
      assertThat(loaded.fullWeights().orElseThrow().get(t.name())).isEqualTo(t);
    }
  }

  @Test
  void refusesToWriteNonFiniteWeights() {
    CheckpointStore store = new CheckpointStore(root);
    PeftAdapter a = adapter(2);
    a.tensors().values().iterator().next().data()[3] = Float.NaN;
    assertThatThrownBy(() -> PolicyCheckpoint.writeLora(store, "default", 1, a, null, state(PolicyCheckpoint.LORA)))
        .isInstanceOf(ModelFormatException.class)
        .hasMessageContaining("non-finite")
        .hasMessageContaining("index 3");
  }

  @Test
  void refusesATamperedFile() throws Exception {
    CheckpointStore store = new CheckpointStore(root);
    Checkpoint cp = PolicyCheckpoint.writeLora(store, "default", 1, adapter(3), null, state(PolicyCheckpoint.LORA));
    Path weights = cp.dir().resolve("adapter_model.safetensors");
    byte[] bytes = Files.readAllBytes(weights);
    bytes[bytes.length - 1] ^= 0x40;
    Files.write(weights, bytes);

    assertThatThrownBy(() -> PolicyCheckpoint.load(store, "default", 1, base))
        .isInstanceOf(CorruptCheckpointException.class)
        .hasMessageContaining("adapter_model.safetensors");
  }

  @Test
  void refusesAnAdapterForAnotherShape() throws Exception {
    CheckpointStore store = new CheckpointStore(root);
    PolicyCheckpoint.writeLora(store, "default", 1, adapter(4), null, state(PolicyCheckpoint.LORA));
    LlamaConfig other = ModelPresets.small();

    assertThatThrownBy(() -> PolicyCheckpoint.load(store, "default", 1, other))
        .isInstanceOf(ModelFormatException.class);
  }

  @Test
  void trainerStateRefusesMissingFields() {
    assertThatThrownBy(() -> TrainerState.fromJson("{\"step\":1}".getBytes(), "t.json"))
        .isInstanceOf(ModelFormatException.class)
        .hasMessageContaining("t.json");
  }
}
