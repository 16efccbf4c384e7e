package io.prefstream.learner.offline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prefstream.learner.eval.HeldOutEvaluator;
import io.prefstream.learner.optim.LrSchedule;
import io.prefstream.learner.policy.PolicySession;
import io.prefstream.learner.trainer.TinyModels;
import io.prefstream.learner.trainer.TrainerConfig;
import io.prefstream.learner.trainer.TrainingBatch;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.policy.PolicyCheckpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OfflineTrainingTest {
  @TempDir Path dir;

  @Test
  void badLinesAreReportedWithTheirLineNumberAndWhatIsWrong() throws Exception {
    Path f = dir.resolve("d.jsonl");
    Files.writeString(f, String.join("\n",
        "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\"}",
        "",
        "{\"prompt\":\"p\",\"chosen\":\"a\"}",
        "not json",
        "{\"prompt\":\"p\",\"completion\":\"c\",\"label\":\"yes\"}",
        "{\"prompt\":[{\"role\":\"user\",\"content\":\"hi\"}],\"chosen\":\"a\",\"rejected\":\"b\"}",
        "{\"prompt\":\"p\",\"completion\":\"c\",\"label\":false}",
        "{\"question\":\"q\"}"));
    assertThatThrownBy(() -> JsonlExamples.read(f, false))
        .isInstanceOf(JsonlExamples.FormatException.class)
        .hasMessageContaining("5 bad lines")
        .hasMessageContaining("line 3: missing 'rejected'")
        .hasMessageContaining("line 4: not valid JSON")
        .hasMessageContaining("line 5: 'label' must be true or false")
        .hasMessageContaining("line 6: mixes text and lists of messages")
        .hasMessageContaining("line 8: expected fields prompt/chosen/rejected");
    JsonlExamples.Result r = JsonlExamples.read(f, true);
    assertThat(r.pairs()).hasSize(1);
    assertThat(r.thumbs()).hasSize(1);
    assertThat(r.blankLines()).isEqualTo(1);
    assertThat(r.badLines()).hasSize(5);
  }

  @Test
  void trainsFromJsonlAndWritesACheckpointTheLearnerResumesFrom() throws Exception {
    SplittableRandom rnd = new SplittableRandom(4);
    List<String> lines = new ArrayList<>();
    for (TrainingBatch.Pair p : TinyModels.pairs(rnd, 40)) {
      lines.add("{\"prompt\":\"" + p.prompt().describe() + "\",\"chosen\":\"" + p.chosen().describe()
          + "\",\"rejected\":\"" + p.rejected().describe() + "\"}");
    }
    Path f = dir.resolve("train.jsonl");
    Files.write(f, lines);
    try (HfModel base = TinyModels.tiny(dir.resolve("model"), 5)) {
      TrainerConfig cfg = TrainerConfig.builder().maxLength(32).maxPromptLength(12)
          .schedule(new LrSchedule.WarmupCosine(3e-3, 2, 20, 0)).build();
      CheckpointStore store = new CheckpointStore(dir.resolve("store"));
      PolicySession s = PolicySession.open(base, new CpuBackend(), store, "offline", cfg);
      JsonlExamples.Result data = JsonlExamples.read(f, false);
      List<Integer> progress = new ArrayList<>();
      OfflineTrainer.Result r = OfflineTrainer.train(s, data, f.getFileName().toString(),
          new OfflineTrainer.Options(8, 4, 1, TinyModels.pairs(new SplittableRandom(77), 32)),
          (done, total, o) -> progress.add(done), Optional.of("tiny"), Optional.empty());

      assertThat(progress).hasSize(20).endsWith(20);
      assertThat(r.checkpoint().version()).isEqualTo(1);
      assertThat(r.evalAfter().get(HeldOutEvaluator.ACCURACY)).isGreaterThan(0.75);
      PolicyCheckpoint.Loaded loaded = PolicyCheckpoint.load(store, "offline", 1, base.config());
      assertThat(loaded.state().step()).isEqualTo(20);
      assertThat(loaded.state().examplesSeen()).isEqualTo(160);
      assertThat(loaded.state().referenceId()).isEqualTo("base");
      assertThat(loaded.state().metrics()).containsKey("eval/rewards/accuracies");
      assertThat(PolicySession.open(base, new CpuBackend(), store, "offline", cfg).trainer().stepCount()).isEqualTo(20);
    }
  }
}
