package io.prefstream.learner.policy;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.learner.optim.LrSchedule;
import io.prefstream.learner.reference.PinnedReference;
import io.prefstream.learner.trainer.AppliedBatch;
import io.prefstream.learner.trainer.TinyModels;
import io.prefstream.learner.trainer.TrainerConfig;
import io.prefstream.learner.trainer.TrainingBatch;
import io.prefstream.model.checkpoint.Checkpoint;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.policy.PolicyCheckpoint;
import io.prefstream.model.policy.TrainerState;
import io.prefstream.model.tensor.NamedTensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PolicySessionTest {
  @TempDir static Path modelDir;
  @TempDir Path storeDir;
  static HfModel base;
  static final TrainerConfig CFG = TrainerConfig.builder().maxLength(32).maxPromptLength(12)
      .schedule(new LrSchedule.WarmupConstant(1e-3, 2)).build();

  @BeforeAll
  static void model() throws Exception {
    base = TinyModels.tiny(modelDir, 11);
  }

  @AfterAll
  static void close() {
    base.close();
  }

  private static List<TrainingBatch> batches(int n) {
    SplittableRandom rnd = new SplittableRandom(21);
    return java.util.stream.IntStream.range(0, n)
        .mapToObj(i -> new TrainingBatch("b" + i, TinyModels.pairs(rnd, 3), List.of())).toList();
  }

  private static Checkpoint save(PolicySession s, CheckpointStore store, long version, Long parent) throws Exception {
    TrainerState st = new TrainerState(s.trainer().stepCount(), 0, Map.of("t-0", version), s.trainer().reference().id(),
        parent, PolicyCheckpoint.LORA, Map.of());
    return LearnerCheckpoints.write(store, "p", version, s.trainer(), st,
        List.of(new AppliedBatch("t-0", version - 1, "b", "APPLIED")), Optional.empty(), Optional.empty());
  }

  private static Map<String, NamedTensor> adapter(PolicySession s) {
    return s.trainer().policy().lora().orElseThrow().toTensors();
  }

  @Test
  void resumedSessionContinuesBitForBitAsAnUninterruptedOne() throws Exception {
    List<TrainingBatch> all = batches(4);
    CheckpointStore straightStore = new CheckpointStore(storeDir.resolve("straight"));
    PolicySession straight = PolicySession.open(base, new CpuBackend(), straightStore, "p", CFG);
    for (TrainingBatch b : all) straight.trainer().step(b, 0);

    CheckpointStore store = new CheckpointStore(storeDir.resolve("resumed"));
    PolicySession first = PolicySession.open(base, new CpuBackend(), store, "p", CFG);
    first.trainer().step(all.get(0), 0);
    first.trainer().step(all.get(1), 0);
    Checkpoint cp = save(first, store, 1, null);
    first.trainer().step(all.get(2), 0); // lost in the "crash"

    PolicySession second = PolicySession.open(base, new CpuBackend(), store, "p", CFG);
    assertThat(second.restoredVersion()).isEqualTo(1);
    assertThat(second.restoredState().orElseThrow().offsets()).containsEntry("t-0", 1L);
    assertThat(LearnerCheckpoints.batches(cp)).extracting(AppliedBatch::batchId).containsExactly("b");
    second.trainer().step(all.get(2), 1);
    second.trainer().step(all.get(3), 1);

    Map<String, NamedTensor> a = adapter(straight), b = adapter(second);
    assertThat(b.keySet()).isEqualTo(a.keySet());
    for (String k : a.keySet()) assertThat(b.get(k).data()).as(k).isEqualTo(a.get(k).data());
    assertThat(second.trainer().optimizerState()).isEqualTo(straight.trainer().optimizerState());
  }

  @Test
  void corruptNewestCheckpointIsSkippedForThePreviousComplete() throws Exception {
    CheckpointStore store = new CheckpointStore(storeDir);
    PolicySession s = PolicySession.open(base, new CpuBackend(), store, "p", CFG);
    s.trainer().step(batches(1).get(0), 0);
    save(s, store, 1, null);
    s.trainer().step(batches(2).get(1), 0);
    Checkpoint v2 = save(s, store, 2, 1L);
    Path weights = v2.dir().resolve("adapter_model.safetensors");
    byte[] bytes = Files.readAllBytes(weights);
    bytes[bytes.length - 1] ^= 0x5A;
    Files.write(weights, bytes);

    PolicySession resumed = PolicySession.open(base, new CpuBackend(), store, "p", CFG);
    assertThat(resumed.restoredVersion()).isEqualTo(1);
    assertThat(resumed.trainer().stepCount()).isEqualTo(1);
  }

  @Test
  void referencePinnedToAVersionScoresWithThatVersionsAdapter() throws Exception {
    CheckpointStore store = new CheckpointStore(storeDir);
    PolicySession s = PolicySession.open(base, new CpuBackend(), store, "p", CFG);
    for (TrainingBatch b : batches(3)) s.trainer().step(b, 0);
    save(s, store, 1, null);
    PinnedReference pinned = s.reference("v1");
    assertThat(pinned.id()).isEqualTo("v1");
    var seq = List.of(s.trainer().encoder().encode("Q1:", " aeiou"));
    double policy = s.trainer().policy().logProbs(seq).sum(0);
    double baseRef = s.reference("base").logProbs(seq).sum(0);
    assertThat(pinned.logProbs(seq).sum(0)).isEqualTo(policy).isNotEqualTo(baseRef);
    // Scoring the reference must leave the policy's own adapter in place.
    assertThat(s.trainer().policy().logProbs(seq).sum(0)).isEqualTo(policy);

    s.trainer().setReference(pinned);
    save(s, store, 2, 1L);
    PolicySession resumed = PolicySession.open(base, new CpuBackend(), store, "p", CFG);
    assertThat(resumed.trainer().reference().id()).isEqualTo("v1");
  }

  @Test
  void fullFineTunedCheckpointResumesWithItsWeightsAndAReferenceOfItsOwn() throws Exception {
    TrainerConfig full = CFG.toBuilder().gradMode(io.prefstream.model.train.GradMode.FULL).build();
    CheckpointStore store = new CheckpointStore(storeDir);
    PolicySession s = PolicySession.open(base, new CpuBackend(), store, "f", full);
    for (TrainingBatch b : batches(2)) s.trainer().step(b, 0);
    TrainerState st = new TrainerState(s.trainer().stepCount(), 6, Map.of(), "base", null, PolicyCheckpoint.FULL, Map.of());
    LearnerCheckpoints.write(store, "f", 1, s.trainer(), st, List.of(), Optional.empty(), Optional.of(modelDir));
    assertThat(store.open("f", 1).manifest().files()).containsKeys("model.safetensors", "config.json", "tokenizer.json",
        "optimizer.bin", "trainer_state.json", "batches.json");

    PolicySession resumed = PolicySession.open(base, new CpuBackend(), store, "f", full);
    Map<String, NamedTensor> a = s.trainer().policy().exportWeights(), b = resumed.trainer().policy().exportWeights();
    for (String k : a.keySet()) assertThat(b.get(k).data()).as(k).isEqualTo(a.get(k).data());
    assertThat(resumed.trainer().optimizerState()).isEqualTo(s.trainer().optimizerState());
    var seq = List.of(resumed.trainer().encoder().encode("Q1:", " aeiou"));
    assertThat(resumed.trainer().reference().logProbs(seq).sum(0))
        .isNotEqualTo(resumed.trainer().policy().logProbs(seq).sum(0));
    assertThat(resumed.reference("v1").logProbs(seq).sum(0)).isEqualTo(resumed.trainer().policy().logProbs(seq).sum(0));
  }
}
