package io.prefstream.ingest.topology;

import io.prefstream.ingest.config.IngestConfig;
import io.prefstream.ingest.config.UnpairedPolicy;
import io.prefstream.ingest.metrics.IngestMetrics;
import io.prefstream.schemas.avro.ChatMessage;
import io.prefstream.schemas.avro.Comparison;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.avro.PreferencePair;
import io.prefstream.schemas.avro.Rating;
import io.prefstream.schemas.avro.Thumb;
import io.prefstream.schemas.avro.UnpairedExample;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.WindowStore;
import org.apache.kafka.streams.state.WindowStoreIterator;

/**
 * Second step, per (policy, prompt) partition: de-duplicate, pair, hold out.
 *
 * <ol>
 *   <li><b>De-duplicate.</b> An event id seen within {@code dedupRetention} (record time) is
 *       dropped and counted. Ids live in a changelogged window store, whose old segments Kafka
 *       Streams drops by itself, so memory stays bounded by the retention. Re-sent events carry the
 *       same prompt, so they reach the same partition as the first copy.
 *   <li><b>Pair.</b> A comparison is a pair at once. A thumb joins its prompt's window (opened at
 *       the first thumb, closing {@code pairingWindow} later on the wall clock) and is paired at
 *       once with every opposite thumb already there, oldest first, while the window has made fewer
 *       than {@code maxPairsPerPrompt} pairs; an UP and a DOWN on the same text teach nothing and
 *       are not paired. Thumbs on chat replies carry their conversation ({@code prompt_messages},
 *       whose rendered text is the prompt): two thumbs pair only when their conversations are equal
 *       (both absent, or the same messages), so a pair is trained exactly as both replies were
 *       produced; the pair and the unpaired examples carry the conversation on.
 *   <li><b>Close windows.</b> A wall-clock punctuation closes due windows (found through a
 *       deadline index ordered by close time, so a punctuation reads only what is due). Thumbs never
 *       paired become unpaired KTO examples or are dropped, per {@link UnpairedPolicy}. Wall-clock
 *       rather than stream time: stream time only moves when events arrive on this task, so a quiet
 *       prompt would otherwise keep its thumbs forever; the window is about how long feedback may
 *       take to arrive, which is a wall-clock notion anyway.
 *   <li><b>Hold out</b> each pair by {@link HoldOut} (a hash of its texts).
 * </ol>
 *
 * Every item goes downstream keyed by policy id. Each valid, non-duplicate event thus ends up in at
 * least one pair (a comparison in exactly one), or in exactly one unpaired example, or in the
 * dropped count.
 */
final class PairingProcessor implements Processor<String, PreferenceEvent, String, Item> {
  static final String DEDUP_STORE = "dedup-event-ids";
  static final String WINDOW_STORE = "thumb-windows";
  static final String DEADLINE_STORE = "thumb-deadlines";
  private static final java.util.HexFormat HEX = java.util.HexFormat.of();

  private final long dedupRetentionMs;
  private final long windowMs;
  private final int maxPairs;
  private final UnpairedPolicy unpairedPolicy;
  private final HoldOut holdOut;
  private final IngestMetrics metrics;

  private ProcessorContext<String, Item> context;
  private WindowStore<String, Long> seen;
  private KeyValueStore<String, ThumbWindow> windows;
  private KeyValueStore<String, String> deadlines;

  PairingProcessor(IngestConfig config, IngestMetrics metrics) {
    this.dedupRetentionMs = config.dedupRetention().toMillis();
    this.windowMs = config.pairingWindow().toMillis();
    this.maxPairs = config.maxPairsPerPrompt();
    this.unpairedPolicy = config.unpairedPolicy();
    this.holdOut = new HoldOut(config.evalShare());
    this.metrics = metrics;
  }

  /** How often due windows are looked for: a tenth of the window, between 10 ms and 1 s. */
  static Duration closeCheckInterval(Duration window) {
    long ms = Math.clamp(window.toMillis() / 10, 10L, 1_000L);
    return Duration.ofMillis(ms);
  }

  @Override
  public void init(ProcessorContext<String, Item> context) {
    this.context = context;
    this.seen = context.getStateStore(DEDUP_STORE);
    this.windows = context.getStateStore(WINDOW_STORE);
    this.deadlines = context.getStateStore(DEADLINE_STORE);
    context.schedule(closeCheckInterval(Duration.ofMillis(windowMs)), PunctuationType.WALL_CLOCK_TIME,
        this::closeDueWindows);
  }

  @Override
  public void process(Record<String, PreferenceEvent> record) {
    PreferenceEvent event = record.value();
    if (isDuplicate(event.getEventId(), record.timestamp())) {
      metrics.duplicate();
      return;
    }
    switch (event.getFeedback()) {
      case Comparison c -> {
        long t = event.getTimestamp().toEpochMilli();
        emitPair(event.getPolicyId(), event.getPrompt(), event.getPromptMessages(), c.getChosen(), c.getRejected(),
            List.of(event.getEventId()), event.getPolicyVersion(), t, t, record.timestamp());
      }
      case Thumb t -> addThumb(record.key(), event, t, record.timestamp());
      default -> throw new IllegalStateException("validated event " + event.getEventId() + " has feedback "
          + event.getFeedback().getClass().getName());
    }
  }

  /** True when the id was seen within the retention; otherwise remembers it. */
  private boolean isDuplicate(String eventId, long timestamp) {
    long from = Math.max(0, timestamp - dedupRetentionMs);
    long to = timestamp > Long.MAX_VALUE - dedupRetentionMs ? Long.MAX_VALUE : timestamp + dedupRetentionMs;
    try (WindowStoreIterator<Long> hits = seen.fetch(eventId, from, to)) {
      if (hits.hasNext()) return true;
    }
    seen.put(eventId, timestamp, timestamp);
    return false;
  }

  private void addThumb(String key, PreferenceEvent event, Thumb thumb, long recordTime) {
    long now = context.currentSystemTimeMs();
    ThumbWindow window = windows.get(key);
    if (window == null) {
      window = new ThumbWindow(event.getPolicyId(), event.getPrompt(), now + windowMs, 0, List.of());
      deadlines.put(deadlineKey(window.closeAt(), key), key);
    }
    ThumbWindow.Thumb incoming = new ThumbWindow.Thumb(event.getEventId(), thumb.getResponse(),
        thumb.getRating() == Rating.UP, event.getPolicyVersion(), event.getTimestamp().toEpochMilli(), false,
        event.getPromptMessages());
    List<ThumbWindow.Thumb> thumbs = new ArrayList<>(window.thumbs().size() + 1);
    int pairsMade = window.pairsMade();
    for (ThumbWindow.Thumb other : window.thumbs()) {
      if (pairsMade < maxPairs && other.up() != incoming.up()
          && !other.response().strip().equals(incoming.response().strip())
          && Objects.equals(other.promptMessages(), incoming.promptMessages())) {
        ThumbWindow.Thumb up = incoming.up() ? incoming : other;
        ThumbWindow.Thumb down = incoming.up() ? other : incoming;
        emitPair(window.policyId(), window.prompt(), incoming.promptMessages(), up.response(), down.response(),
            List.of(up.eventId(), down.eventId()), olderVersion(up.policyVersion(), down.policyVersion()),
            Math.min(up.eventTime(), down.eventTime()), Math.max(up.eventTime(), down.eventTime()), recordTime);
        pairsMade++;
        other = other.markPaired();
        incoming = incoming.markPaired();
      }
      thumbs.add(other);
    }
    thumbs.add(incoming);
    windows.put(key, new ThumbWindow(window.policyId(), window.prompt(), window.closeAt(), pairsMade, thumbs));
  }

  /**
   * Forwards a pair. Its record time is that of the event that completed it (the publication time,
   * when producers use create time), so the batching step can bound the latency from publication.
   */
  private void emitPair(String policyId, String prompt, List<ChatMessage> promptMessages, String chosen, String rejected,
      List<String> sources, Long policyVersion, long tMin, long tMax, long recordTime) {
    boolean heldOut = holdOut.isHeldOut(prompt, chosen, rejected);
    metrics.pair(heldOut);
    PreferencePair pair = new PreferencePair(prompt, chosen, rejected, sources, policyVersion, promptMessages);
    context.forward(new Record<>(policyId, new Item.Pair(policyId, pair, heldOut, tMin, tMax), recordTime));
  }

  private void closeDueWindows(long now) {
    List<KeyValue<String, String>> due = new ArrayList<>();
    // Keys are "<close time, 16 hex digits>|<window key>"; '~' sorts after '|', so this reads
    // every deadline up to and including now.
    try (KeyValueIterator<String, String> it = deadlines.range(null, deadlinePrefix(now) + "~")) {
      while (it.hasNext()) due.add(it.next());
    }
    for (KeyValue<String, String> deadline : due) {
      deadlines.delete(deadline.key);
      ThumbWindow window = windows.delete(deadline.value);
      if (window == null) continue;
      for (ThumbWindow.Thumb t : window.thumbs()) {
        if (t.paired()) continue;
        if (unpairedPolicy == UnpairedPolicy.DROP) {
          metrics.unpairedDropped();
          continue;
        }
        metrics.unpairedKept();
        UnpairedExample example = new UnpairedExample(window.prompt(), t.response(), t.up(), t.eventId(),
            t.policyVersion(), t.promptMessages());
        context.forward(new Record<>(window.policyId(), new Item.Unpaired(window.policyId(), example, t.eventTime()),
            now));
      }
    }
  }

  static String deadlineKey(long closeAt, String windowKey) {
    return deadlinePrefix(closeAt) + "|" + windowKey;
  }

  private static String deadlinePrefix(long time) {
    return HEX.toHexDigits(Math.max(0, time)); // as %016x, without a Formatter per record
  }

  private static Long olderVersion(Long a, Long b) {
    if (a == null) return b;
    if (b == null) return a;
    return Math.min(a, b);
  }
}
