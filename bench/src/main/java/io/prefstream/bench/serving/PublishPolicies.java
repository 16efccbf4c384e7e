package io.prefstream.bench.serving;

import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.io.HfConfigJson;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.serving.rollout.KafkaRolloutFeed;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Publishes one LoRA version (rank 8, every projection, random weights) of each of N policies to a
 * running cluster, as a learner would: the checkpoint goes to a store directory and the
 * PolicyUpdate to prefstream.policy-updates. For benchmarks of one replica serving many policies
 * (bench/run-serving-engine-bench.sh); prints the policy ids, space-separated.
 *
 * <p>{@code PublishPolicies BOOTSTRAP MODEL_DIR CHECKPOINTS_DIR N [PREFIX]}
 */
public final class PublishPolicies {
  private PublishPolicies() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 4) {
      System.err.println("usage: PublishPolicies BOOTSTRAP MODEL_DIR CHECKPOINTS_DIR N [PREFIX]");
      System.exit(2);
    }
    LlamaConfig cfg = HfConfigJson.read(Path.of(args[1]).resolve("config.json"));
    CheckpointStore store = new CheckpointStore(Path.of(args[2]));
    int n = Integer.parseInt(args[3]);
    String prefix = args.length > 4 ? args[4] : "app-";
    List<String> ids = new ArrayList<>();
    try (KafkaRolloutFeed feed = new KafkaRolloutFeed(args[0], "bench-publisher")) {
      for (int i = 0; i < n; i++) {
        String policy = prefix + i;
        PolicyUpdate u = ServingBench.writeVersion(store, cfg, policy, 1);
        feed.publishUpdate(u);
        ids.add(policy);
      }
    }
    System.out.println(String.join(" ", ids));
  }
}
