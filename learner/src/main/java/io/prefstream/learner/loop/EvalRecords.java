package io.prefstream.learner.loop;

import io.prefstream.learner.trainer.TrainingBatch;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PreferencePair;
import io.prefstream.schemas.serde.SingleObjectCodec;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads a {@code prefstream.eval} record: a {@link MicroBatch} of held-out pairs (what the ingest
 * writes) or, tolerated, a single {@link PreferencePair}, both Avro single-object encoded. Anything
 * else is logged and yields no pairs.
 */
final class EvalRecords {
  private static final Logger log = LoggerFactory.getLogger(EvalRecords.class);
  private static final SingleObjectCodec<MicroBatch> BATCH = new SingleObjectCodec<>(MicroBatch.class);
  private static final SingleObjectCodec<PreferencePair> PAIR = pairCodec();

  private EvalRecords() {}

  private static SingleObjectCodec<PreferencePair> pairCodec() {
    try {
      return new SingleObjectCodec<>(PreferencePair.class);
    } catch (RuntimeException e) {
      return null; // not a registered top-level schema: only micro-batches are read
    }
  }

  static List<TrainingBatch.Pair> pairs(byte[] value, String policyId) {
    try {
      MicroBatch mb = BATCH.decode(value);
      return policyId.equals(mb.getPolicyId()) ? TrainingBatch.of(mb).pairs() : List.of();
    } catch (RuntimeException asBatch) {
      if (PAIR != null) {
        try {
          PreferencePair p = PAIR.decode(value);
          return List.of(TrainingBatch.pair(p));
        } catch (RuntimeException asPair) {
          asBatch.addSuppressed(asPair);
        }
      }
      log.warn("eval record is neither a MicroBatch nor a PreferencePair; ignored: {}", asBatch.getMessage());
      return List.of();
    }
  }
}
