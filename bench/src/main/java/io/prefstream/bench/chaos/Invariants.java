package io.prefstream.bench.chaos;

import io.prefstream.learner.policy.LearnerCheckpoints;
import io.prefstream.learner.policy.PolicySession;
import io.prefstream.learner.trainer.AppliedBatch;
import io.prefstream.learner.trainer.DpoTrainer;
import io.prefstream.learner.trainer.StepOutcome;
import io.prefstream.learner.trainer.TrainingBatch;
import io.prefstream.model.backend.Backends;
import io.prefstream.model.checkpoint.Checkpoint;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.io.HfModelDir;
import io.prefstream.model.policy.PolicyCheckpoint;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.schemas.avro.DeadLetter;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PreferencePair;
import io.prefstream.schemas.avro.RolloutState;
import io.prefstream.schemas.avro.UnpairedExample;
import io.prefstream.schemas.serde.PreferenceEventDeserializer;
import io.prefstream.schemas.serde.SingleObjectCodec;
import io.prefstream.schemas.topic.Topics;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * The five checks of a soak, each computed from what the run left behind (the topics read with a
 * {@code read_committed} consumer, the checkpoint store, and the users' own records), never from a
 * component's opinion of itself. Each adds its figures and its violations (one line each, naming
 * what broke) to a {@link Report}.
 */
final class Invariants {
  private static final int MAX_LISTED = 10;
  private static final Set<String> STEP_OUTCOMES =
      EnumSet.allOf(StepOutcome.Status.class).stream().map(Enum::name).collect(Collectors.toSet());

  /** Figures and violations, by check. */
  static final class Report {
    final Map<String, Object> figures = new LinkedHashMap<>();
    final Map<String, List<String>> violations = new LinkedHashMap<>();

    void violation(String check, String what) {
      violations.computeIfAbsent(check, k -> new ArrayList<>()).add(what);
    }

    int violationCount() {
      return violations.values().stream().mapToInt(List::size).sum();
    }
  }

  static final String EXACTLY_ONCE_EVENTS = "1 every valid event exactly once in batches or eval";
  static final String BATCHES_ONCE = "2 every batch applied exactly once";
  static final String REPLAY = "3 final weights equal an uninterrupted replay";
  static final String ROLLOUT = "4 no served version the rollout never allowed";
  static final String AVAILABILITY = "5 requests failed only while their replica was down";

  private Invariants() {}

  // ---- 1 ----------------------------------------------------------------------------------------

  /** Every valid event (on prefstream.events, not dead-lettered) is in exactly one batch or eval item. */
  static void eventsExactlyOnce(String bootstrap, Traffic traffic, InvalidEvents invalid, Report rep) {
    // Users' events come Avro-encoded from the serving, the invalid app's as JSON: decode both.
    PreferenceEventDeserializer ev = new PreferenceEventDeserializer();
    SingleObjectCodec<DeadLetter> dl = new SingleObjectCodec<>(DeadLetter.class);
    SingleObjectCodec<MicroBatch> mb = new SingleObjectCodec<>(MicroBatch.class);
    Map<String, Integer> onTopic = new HashMap<>();
    int undecodable = 0;
    List<ConsumerRecord<String, byte[]>> events = TopicReader.readAll(bootstrap, Topics.EVENTS);
    for (ConsumerRecord<String, byte[]> r : events) {
      try {
        onTopic.merge(ev.deserialize(r.topic(), r.value()).getEventId(), 1, Integer::sum);
      } catch (RuntimeException e) {
        undecodable++;
      }
    }
    Set<String> deadLettered = new HashSet<>();
    Map<String, Integer> reasons = new TreeMap<>();
    for (ConsumerRecord<String, byte[]> r : TopicReader.readAll(bootstrap, Topics.EVENTS_DLQ)) {
      DeadLetter d = dl.decode(r.value());
      if (d.getEventId() != null) deadLettered.add(d.getEventId());
      reasons.merge(d.getReason().name(), 1, Integer::sum);
    }
    Map<String, Integer> learned = new HashMap<>();
    Map<String, Integer> batchIds = new HashMap<>();
    int batches = 0;
    int evalItems = 0;
    for (String topic : List.of(Topics.BATCHES, Topics.EVAL)) {
      for (ConsumerRecord<String, byte[]> r : TopicReader.readAll(bootstrap, topic)) {
        MicroBatch b = mb.decode(r.value());
        if (topic.equals(Topics.BATCHES)) {
          batches++;
          batchIds.merge(b.getBatchId(), 1, Integer::sum);
        }
        for (PreferencePair p : b.getPairs()) {
          for (String id : p.getSourceEventIds()) learned.merge(id, 1, Integer::sum);
          if (topic.equals(Topics.EVAL)) evalItems++;
        }
        for (UnpairedExample u : b.getUnpaired()) {
          learned.merge(u.getSourceEventId(), 1, Integer::sum);
          if (topic.equals(Topics.EVAL)) evalItems++;
        }
      }
    }
    Set<String> acked = traffic.acked.stream().map(Traffic.Acked::eventId).collect(Collectors.toSet());
    int duplicatesOnTopic = (int) onTopic.values().stream().filter(n -> n > 1).count();
    rep.figures.put("events acknowledged", acked.size());
    rep.figures.put("event records on " + Topics.EVENTS, events.size());
    rep.figures.put("event ids on " + Topics.EVENTS, onTopic.size());
    rep.figures.put("event ids sent more than once (client retries)", duplicatesOnTopic);
    rep.figures.put("dead-lettered event ids", deadLettered.size() + " " + reasons);
    rep.figures.put("batches on " + Topics.BATCHES, batches);
    rep.figures.put("held-out items on " + Topics.EVAL, evalItems);
    if (undecodable > 0) rep.violation(EXACTLY_ONCE_EVENTS, undecodable + " undecodable records on " + Topics.EVENTS);
    list(rep, EXACTLY_ONCE_EVENTS, "acknowledged but not on " + Topics.EVENTS,
        acked.stream().filter(id -> !onTopic.containsKey(id)).sorted().toList());
    Set<String> invalidIds = new TreeSet<>(invalid.acked);
    rep.figures.put("invalid events published (must be dead-lettered)", invalidIds.size());
    list(rep, EXACTLY_ONCE_EVENTS, "invalid events not dead-lettered",
        invalidIds.stream().filter(id -> !deadLettered.contains(id)).toList());
    list(rep, EXACTLY_ONCE_EVENTS, "valid user events dead-lettered",
        acked.stream().filter(deadLettered::contains).sorted().toList());
    List<String> lost = new ArrayList<>();
    List<String> dup = new ArrayList<>();
    for (String id : new TreeSet<>(onTopic.keySet())) {
      if (deadLettered.contains(id)) continue;
      int n = learned.getOrDefault(id, 0);
      if (n == 0) lost.add(id);
      if (n > 1) dup.add(id + " x" + n);
    }
    list(rep, EXACTLY_ONCE_EVENTS, "valid events in no batch or eval item (lost)", lost);
    list(rep, EXACTLY_ONCE_EVENTS, "valid events in more than one batch or eval item (duplicated)", dup);
    list(rep, EXACTLY_ONCE_EVENTS, "dead-lettered events that were learned anyway",
        learned.keySet().stream().filter(deadLettered::contains).sorted().toList());
    list(rep, EXACTLY_ONCE_EVENTS, "source event ids that were never on " + Topics.EVENTS,
        learned.keySet().stream().filter(id -> !onTopic.containsKey(id)).sorted().toList());
    list(rep, EXACTLY_ONCE_EVENTS, "batch ids on " + Topics.BATCHES + " more than once",
        batchIds.entrySet().stream().filter(e -> e.getValue() > 1).map(Map.Entry::getKey).sorted().toList());
  }

  // ---- 2 and 3 -----------------------------------------------------------------------------------

  /** One checkpoint of the final version's lineage: its parent and the batches it lists. */
  record Link(long version, long parent, List<AppliedBatch> batches) {}

  /**
   * Follows the final checkpoint's parents back to the base; checks that the batches its lineage
   * lists are exactly the committed records of prefstream.batches, each once (check 2); then
   * replays those batches on a fresh trainer in one go, with the versions the lineage had, and
   * compares the weights and optimiser state with the final checkpoint bit for bit (check 3).
   */
  static void learner(String bootstrap, Path model, Path checkpoints, Path scratch, Report rep) throws IOException {
    List<ConsumerRecord<String, byte[]>> records = TopicReader.readAll(bootstrap, Topics.BATCHES);
    Map<String, ConsumerRecord<String, byte[]>> byOffset = new TreeMap<>();
    for (ConsumerRecord<String, byte[]> r : records) byOffset.put(r.topic() + "-" + r.partition() + "@" + r.offset(), r);
    try (HfModel base = HfModelDir.load(model)) {
      PolicySession finalSession = PolicySession.open(base, Backends.choose("cpu").backend(),
          new CheckpointStore(checkpoints), Cluster.POLICY, Replay.trainerConfig());
      long head = finalSession.restoredVersion();
      CheckpointStore store = finalSession.store();
      List<Link> lineage = new ArrayList<>();
      Map<String, Long> finalOffsets = finalSession.restoredState().map(s -> s.offsets()).orElse(Map.of());
      for (long v = head; v > 0; ) {
        Checkpoint cp = store.open(Cluster.POLICY, v);
        Long parent = PolicyCheckpoint.load(cp, base.config()).state().parentVersion();
        lineage.addFirst(new Link(v, parent == null ? 0 : parent, LearnerCheckpoints.batches(cp)));
        v = parent == null ? 0 : parent;
      }
      rep.figures.put("checkpoints written", store.list(Cluster.POLICY).size());
      rep.figures.put("final version", head);
      rep.figures.put("final version's lineage", lineage.size() + " checkpoints");

      // 2: the lineage's batches vs the topic.
      Map<String, Integer> listed = new TreeMap<>();
      Map<String, Integer> appliedIds = new HashMap<>();
      int applied = 0;
      for (Link l : lineage) {
        for (AppliedBatch b : l.batches()) {
          listed.merge(b.topicPartition() + "@" + b.offset(), 1, Integer::sum);
          if (b.outcome().equals(StepOutcome.Status.APPLIED.name())) {
            applied++;
            appliedIds.merge(b.batchId(), 1, Integer::sum);
          }
        }
      }
      rep.figures.put("batches applied (final lineage)", applied);
      Map<String, Long> end = TopicReader.pastLastRecord(records);
      if (!finalOffsets.entrySet().containsAll(end.entrySet())) {
        rep.violation(BATCHES_ONCE, "the final checkpoint stops at " + finalOffsets + ", the topic ends at " + end
            + ": the learner did not catch up before the end of the run");
      }
      list(rep, BATCHES_ONCE, "batches listed by more than one checkpoint of the lineage (applied twice)",
          listed.entrySet().stream().filter(e -> e.getValue() > 1).map(e -> e.getKey() + " x" + e.getValue()).toList());
      list(rep, BATCHES_ONCE, "batch ids applied more than once",
          appliedIds.entrySet().stream().filter(e -> e.getValue() > 1).map(e -> e.getKey() + " x" + e.getValue()).toList());
      list(rep, BATCHES_ONCE, "committed batches below the final offsets that no checkpoint lists (never applied)",
          byOffset.entrySet().stream().filter(e -> !listed.containsKey(e.getKey()))
              .filter(e -> e.getValue().offset() < finalOffsets.getOrDefault(
                  e.getValue().topic() + "-" + e.getValue().partition(), 0L))
              .map(Map.Entry::getKey).toList());
      list(rep, BATCHES_ONCE, "listed offsets that hold no committed batch",
          listed.keySet().stream().filter(k -> !byOffset.containsKey(k)).toList());

      // 3: replay on a fresh trainer.
      long replayStart = System.nanoTime();
      Files.createDirectories(scratch);
      PolicySession fresh = PolicySession.open(base, Backends.choose("cpu").backend(), new CheckpointStore(scratch),
          Cluster.POLICY, Replay.trainerConfig());
      DpoTrainer trainer = fresh.trainer();
      SingleObjectCodec<MicroBatch> codec = new SingleObjectCodec<>(MicroBatch.class);
      int replayed = 0;
      for (Link l : lineage) {
        for (AppliedBatch b : l.batches()) {
          if (!STEP_OUTCOMES.contains(b.outcome())) continue;
          ConsumerRecord<String, byte[]> r = byOffset.get(b.topicPartition() + "@" + b.offset());
          if (r == null) continue; // reported by check 2
          StepOutcome o = trainer.step(TrainingBatch.of(codec.decode(r.value())), l.parent());
          replayed++;
          if (!o.status().name().equals(b.outcome())) {
            rep.violation(REPLAY, "batch " + b.batchId() + " at v" + l.parent() + ": the run recorded " + b.outcome()
                + ", the replay got " + o.status());
          }
        }
      }
      rep.figures.put("batches replayed", replayed);
      rep.figures.put("replay time", (System.nanoTime() - replayStart) / 1_000_000_000 + " s");
      DpoTrainer done = finalSession.trainer();
      Map<String, NamedTensor> a = done.policy().lora().orElseThrow().toTensors();
      Map<String, NamedTensor> b = trainer.policy().lora().orElseThrow().toTensors();
      int differ = 0;
      for (String k : a.keySet()) {
        if (!b.containsKey(k) || !Arrays.equals(a.get(k).data(), b.get(k).data())) {
          differ++;
          if (differ <= MAX_LISTED) rep.violation(REPLAY, "tensor " + k + " differs from the replay");
        }
      }
      if (differ > MAX_LISTED) rep.violation(REPLAY, "... and " + (differ - MAX_LISTED) + " more tensors differ");
      if (!Arrays.equals(done.optimizerState(), trainer.optimizerState())) {
        rep.violation(REPLAY, "the optimiser state differs from the replay's");
      }
      if (done.stepCount() != trainer.stepCount()) {
        rep.violation(REPLAY, "step count " + done.stepCount() + " vs the replay's " + trainer.stepCount());
      }
      rep.figures.put("steps (final checkpoint / replay)", done.stepCount() + " / " + trainer.stepCount());
    }
  }

  // ---- 4 ----------------------------------------------------------------------------------------

  /**
   * Every version a reply came from was allowed (stable or canary) by an accepted rollout state
   * written before the reply, or is the base (0). Accepted: the chain rule of prefstream.rollout,
   * re-derived here from the log (a state applies when it is the first, unrevised, or based on the
   * current one's revision).
   */
  static void servedVersions(String bootstrap, Traffic traffic, Report rep) {
    SingleObjectCodec<RolloutState> codec = new SingleObjectCodec<>(RolloutState.class);
    RolloutState current = null;
    TreeMap<Long, Long> firstAllowed = new TreeMap<>(); // version -> earliest time allowed
    int states = 0;
    int stale = 0;
    for (ConsumerRecord<String, byte[]> r : TopicReader.readAll(bootstrap, Topics.ROLLOUT)) {
      if (!Cluster.POLICY.equals(r.key())) continue;
      RolloutState s = codec.decode(r.value());
      states++;
      boolean follows = current == null || s.getRevision() == 0
          || Objects.equals(s.getBaseRevision(), current.getRevision());
      if (!follows) {
        stale++;
        continue;
      }
      current = s;
      for (Long v : new Long[] {s.getStableVersion(), s.getCanaryPercent() > 0 ? s.getCanaryVersion() : null}) {
        if (v != null) firstAllowed.merge(v, r.timestamp(), Math::min);
      }
    }
    rep.figures.put("rollout states (stale proposals ignored)", states + " (" + stale + ")");
    Map<Long, Integer> byVersion = new TreeMap<>();
    List<String> bad = new ArrayList<>();
    for (Traffic.Served s : traffic.served) {
      byVersion.merge(s.version(), 1, Integer::sum);
      if (s.version() == 0) continue;
      Long since = firstAllowed.get(s.version());
      if (since == null || since > s.at()) {
        bad.add("v" + s.version() + " served by " + s.replica() + " at " + s.at()
            + (since == null ? " (never allowed)" : " (allowed only from " + since + ")"));
      }
    }
    rep.figures.put("replies by version", byVersion);
    list(rep, ROLLOUT, "replies from versions the rollout state had not allowed", bad);
  }

  // ---- 5 ----------------------------------------------------------------------------------------

  /**
   * A failed attempt is excused when its replica was down during it (killed, until its restart
   * printed its ready line, plus {@code graceMs} for the client to reconnect), or, for feedback,
   * when the broker was (feedback is published before it is acknowledged); any other failure is a
   * violation. Every interaction must also have ended: a user who gave up is a violation.
   */
  static void availability(Traffic traffic, Map<String, List<Proc.Down>> downs, List<Proc.Down> brokerDowns,
      long graceMs, long brokerGraceMs, Report rep) {
    int ok = 0;
    int failed = 0;
    int excused = 0;
    Map<String, Integer> codes = new TreeMap<>();
    List<String> bad = new ArrayList<>();
    for (Traffic.Attempt a : traffic.attempts) {
      if (a.ok()) {
        ok++;
        continue;
      }
      failed++;
      codes.merge(a.rpc() + " " + a.code(), 1, Integer::sum);
      boolean replicaDown = downs.getOrDefault(a.replica(), List.of()).stream()
          .anyMatch(d -> new Proc.Down(d.from(), d.to() == Long.MAX_VALUE ? d.to() : d.to() + graceMs)
              .overlaps(a.start(), a.end()));
      boolean brokerDown = a.rpc().equals("Feedback") && brokerDowns.stream()
          .anyMatch(d -> new Proc.Down(d.from(), d.to() == Long.MAX_VALUE ? d.to() : d.to() + brokerGraceMs)
              .overlaps(a.start(), a.end()));
      if (a.code().equals("INVALID_ARGUMENT")) {
        excused++; // listed as a refusal below
      } else if (replicaDown || brokerDown) {
        excused++;
      } else {
        bad.add(a.rpc() + " on " + a.replica() + " failed with " + a.code() + " at " + a.start() + ".." + a.end()
            + " while it was up");
      }
    }
    rep.figures.put("interactions completed", traffic.interactions.get());
    list(rep, AVAILABILITY, "requests the API refused (the users send only valid ones)",
        List.copyOf(traffic.refusals));
    rep.figures.put("RPC attempts ok / failed (excused)", ok + " / " + failed + " (" + excused + ")");
    rep.figures.put("failed attempts by RPC and code", codes);
    list(rep, AVAILABILITY, "attempts that failed while their replica was up", bad);
    if (traffic.gaveUp.get() > 0) {
      rep.violation(AVAILABILITY, traffic.gaveUp.get() + " interactions found no replica answering for 2 minutes");
    }
    if (traffic.interactions.get() == 0) rep.violation(AVAILABILITY, "no interaction completed at all");
  }

  private static void list(Report rep, String check, String what, List<String> items) {
    if (items.isEmpty()) return;
    String shown = String.join(", ", items.subList(0, Math.min(MAX_LISTED, items.size())));
    rep.violation(check, items.size() + " " + what + ": " + shown + (items.size() > MAX_LISTED ? ", ..." : ""));
  }
}
