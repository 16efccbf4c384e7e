package io.prefstream.serving.feedback;

import io.prefstream.model.text.ChatMessage;
import java.time.Duration;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.function.LongSupplier;

/**
 * The responses this replica produced recently, by response id, so that feedback can name a response
 * instead of echoing its texts. Bounded three ways ({@link Limits}): entries, characters held (prompt,
 * conversation and reply together) and age; the oldest entries go first when a bound is reached, and
 * an entry older than the TTL is never returned. Looking an entry up does not refresh it: the TTL is
 * how long after generation feedback may name it. Thread-safe: every method holds this object's lock
 * (the map is its only state); lookups and inserts are O(1) amortised. Tested in
 * {@code RecentResponsesTest} with a fake clock.
 */
public final class RecentResponses {
  /** Per-entry bookkeeping counted against {@link Limits#maxChars}, beside the texts themselves. */
  static final int OVERHEAD_CHARS = 64;

  /**
   * @param maxEntries responses kept at most (0: none, feedback must then send texts)
   * @param maxChars   characters of prompts, conversations and replies kept at most
   * @param ttl        how long after generation a response can be named
   */
  public record Limits(int maxEntries, long maxChars, Duration ttl) {
    public Limits {
      Objects.requireNonNull(ttl, "ttl");
      if (maxEntries < 0) throw new IllegalArgumentException("response memory entries must be >= 0, got " + maxEntries);
      if (maxChars < 0) throw new IllegalArgumentException("response memory characters must be >= 0, got " + maxChars);
      if (ttl.isNegative() || ttl.isZero()) throw new IllegalArgumentException("response memory TTL must be > 0, got " + ttl);
    }

    /** 10,000 responses, 32 Mi characters (about 32 to 64 MiB of heap), one hour. */
    public static Limits defaults() {
      return new Limits(10_000, 32L << 20, Duration.ofHours(1));
    }

    /** "10000 responses for PT1H", for messages that tell a client why an id is gone. */
    public String describe() {
      return maxEntries + " responses for " + ttl;
    }
  }

  /**
   * One response as it was produced.
   *
   * @param prompt   the prompt text: Generate's prompt, or the conversation as the template rendered it
   * @param messages the conversation, for a Chat response; null for Generate
   * @param reply    the generated text
   */
  public record Remembered(String responseId, String policyId, long version, String prompt, List<ChatMessage> messages,
      String reply) {
    public Remembered {
      Objects.requireNonNull(responseId, "responseId");
      Objects.requireNonNull(policyId, "policyId");
      Objects.requireNonNull(prompt, "prompt");
      Objects.requireNonNull(reply, "reply");
      messages = messages == null ? null : List.copyOf(messages);
    }

    /** Whether both answered the same prompt: the same text and the same conversation (or none). */
    public boolean samePromptAs(Remembered other) {
      return prompt.equals(other.prompt) && Objects.equals(messages, other.messages);
    }

    long chars() {
      long n = OVERHEAD_CHARS + responseId.length() + policyId.length() + prompt.length() + reply.length();
      if (messages != null) for (ChatMessage m : messages) n += m.role().length() + m.content().length();
      return n;
    }
  }

  private record Entry(Remembered response, long atNanos, long chars) {}

  private final Limits limits;
  private final LongSupplier nanoClock;
  private final LinkedHashMap<String, Entry> byId = new LinkedHashMap<>();
  private long chars;

  /** With {@link System#nanoTime} as the clock. */
  public RecentResponses(Limits limits) {
    this(limits, System::nanoTime);
  }

  public RecentResponses(Limits limits, LongSupplier nanoClock) {
    this.limits = Objects.requireNonNull(limits, "limits");
    this.nanoClock = Objects.requireNonNull(nanoClock, "nanoClock");
  }

  public Limits limits() {
    return limits;
  }

  /** Keeps {@code r}, making room by dropping the oldest entries; one larger than all the room is not kept. */
  public synchronized void remember(Remembered r) {
    long size = r.chars();
    if (limits.maxEntries() == 0 || size > limits.maxChars()) return;
    long now = nanoClock.getAsLong();
    Entry old = byId.remove(r.responseId());
    if (old != null) chars -= old.chars();
    dropExpired(now);
    Iterator<Entry> oldest = byId.values().iterator();
    while (oldest.hasNext() && (byId.size() >= limits.maxEntries() || chars + size > limits.maxChars())) {
      chars -= oldest.next().chars();
      oldest.remove();
    }
    byId.put(r.responseId(), new Entry(r, now, size));
    chars += size;
  }

  /** The response with this id, unless it was never here, was dropped for room, or is older than the TTL. */
  public synchronized Optional<Remembered> find(String responseId) {
    dropExpired(nanoClock.getAsLong());
    Entry e = byId.get(responseId);
    return e == null ? Optional.empty() : Optional.of(e.response());
  }

  /** Entries held now (expired ones included until the next call drops them). */
  public synchronized int size() {
    return byId.size();
  }

  /** Characters held now, as counted against {@link Limits#maxChars}. */
  public synchronized long chars() {
    return chars;
  }

  // Insertion order is age order, so expired entries are a prefix of the map.
  private void dropExpired(long now) {
    long ttl = limits.ttl().toNanos();
    Iterator<Entry> it = byId.values().iterator();
    while (it.hasNext()) {
      Entry e = it.next();
      if (now - e.atNanos() < ttl) return;
      chars -= e.chars();
      it.remove();
    }
  }
}
