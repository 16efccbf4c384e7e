package io.prefstream.deploy.demo;

import io.prefstream.serving.fluency.ServedFluency.Nll;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What the demo observed, recorded from several threads: every judged reply (time, the policy
 * version that produced it, liked or not), the feedback sent, the versions served over time
 * (swaps), one {@link Sample} per second of the loop's counters, and the freshness of what the
 * served versions learned (feedback sent → a served version that trained on it). Times are
 * milliseconds since the demo started.
 */
public final class DemoTimeline {
  /**
   * A reply a user judged; {@code single}: a reply on its own (a best-of-n pick), not one of an A/B pair;
   * {@code cut}: generation stopped at the users' token limit, not at the model's end. {@code refNats} and
   * {@code scoredTokens}: the pinned reference's NLL of the reply (summed over the tokens the server scored)
   * when the server gave it (A/B candidates carry it), else NaN and 0.
   */
  public record Judged(long atMillis, long version, boolean liked, String reply, boolean single, boolean cut,
      double refNats, int scoredTokens) {
    boolean scored() {
      return scoredTokens > 0 && Double.isFinite(refNats);
    }
  }

  /**
   * The reference NLL of scored replies, split by the users' verdict. A content preference makes the
   * liked replies the ones the base model says less often, so a policy that says them more costs the
   * reference more per token even when every reply is fluent; {@link #atLikedRate} is that cost alone.
   */
  public record Fluency(Nll liked, Nll disliked) {
    public Nll all() {
      return liked.plus(disliked);
    }

    /**
     * NLL per token of these replies reweighted to a liked share {@code rate}: a reply's mean nats and
     * tokens from each side, mixed in that proportion. NaN when a side has no replies.
     */
    public double atLikedRate(double rate) {
      if (liked.replies() == 0 || disliked.replies() == 0 || !(rate >= 0 && rate <= 1)) return Double.NaN;
      double nats = rate * liked.nats() / liked.replies() + (1 - rate) * disliked.nats() / disliked.replies();
      double tokens = rate * (double) liked.tokens() / liked.replies() + (1 - rate) * (double) disliked.tokens() / disliked.replies();
      return nats / tokens;
    }
  }

  /** The served version changed to {@code version} at {@code atMillis}. */
  public record Swap(long atMillis, long version) {}

  /**
   * The loop's state at one moment: the liked rate over the trailing window (NaN without replies),
   * the learner's last eval reward accuracy and KL (NaN before any), counters, the served version.
   */
  /**
   * One second of the run. {@code servedNll} is the reference NLL per token of the last 64 sampled served replies;
   * {@code servedNats} and {@code servedTokens} are the replica's running sums behind it (for windows of any length).
   */
  public record Sample(long atMillis, double windowRate, int windowReplies, double evalAccuracy, double kl,
      long events, long pairs, long batches, long steps, long servedVersion, double servedNll, double servedNats,
      double servedTokens) {}

  /** Reference NLL per token of the served replies sampled between two times (from the samples' sums); NaN without any. */
  public synchronized double servedNll(long fromMillis, long toMillis) {
    Sample first = null, last = null;
    for (Sample s : samples) {
      if (s.atMillis() < fromMillis || s.atMillis() > toMillis || Double.isNaN(s.servedTokens())) continue;
      if (first == null) first = s;
      last = s;
    }
    if (first == null) return Double.NaN;
    // The sums before the window's first sample: the sample just before it, or zero at the start.
    Sample before = null;
    for (Sample s : samples) {
      if (s.atMillis() >= first.atMillis()) break;
      if (!Double.isNaN(s.servedTokens())) before = s;
    }
    double nats = last.servedNats() - (before == null ? 0 : before.servedNats());
    double tokens = last.servedTokens() - (before == null ? 0 : before.servedTokens());
    return tokens > 0 ? nats / tokens : Double.NaN;
  }

  private volatile long startNanos = System.nanoTime();
  private final List<Judged> judged = new ArrayList<>();
  private final List<Swap> swaps = new ArrayList<>();
  private final List<Sample> samples = new ArrayList<>();
  private final List<Long> freshnessMillis = new ArrayList<>();
  /**
   * Feedback event id → when it was sent, for freshness. By event, not by text: a reply the policy
   * says again and again is sent many times, and each sending waits for its own step.
   */
  private final Map<String, Long> sentAt = new ConcurrentHashMap<>();
  /** (learner step, sent time) of feedback a step trained on, waiting for a served version. */
  private final List<long[]> learnedAwaitingServe = new ArrayList<>();
  /** Learner steps taken on a batch with preference pairs (their "kl" is the per-token DPO one). */
  private final java.util.Set<Long> pairSteps = ConcurrentHashMap.newKeySet();
  private long thumbs;
  private long comparisons;
  private long failures;

  /** Restarts the clock: the demo's time counts from the users' first turn. */
  public void begin() {
    startNanos = System.nanoTime();
  }

  /** Milliseconds since the demo started. */
  public long now() {
    return (System.nanoTime() - startNanos) / 1_000_000;
  }

  public void judged(long version, boolean liked, String reply, boolean single) {
    judged(version, liked, reply, single, false, Double.NaN, 0);
  }

  /**
   * A judged reply, {@code cut} at the token limit or not, with the reference's NLL of it ({@code refNats} summed
   * over {@code scoredTokens}; NaN and 0 when not scored).
   */
  public synchronized void judged(long version, boolean liked, String reply, boolean single, boolean cut, double refNats,
      int scoredTokens) {
    judged.add(new Judged(now(), version, liked, reply, single, cut, refNats, scoredTokens));
  }

  /** The reference NLL of the scored replies of version 0 (the base model), liked and not. */
  public synchronized Fluency baseFluency() {
    return fluency(j -> j.version() == 0);
  }

  /** The reference NLL of the scored replies judged in (from, to], liked and not. */
  public synchronized Fluency fluency(long fromMillis, long toMillis) {
    return fluency(j -> j.atMillis() > fromMillis && j.atMillis() <= toMillis);
  }

  private Fluency fluency(java.util.function.Predicate<Judged> which) {
    Nll liked = Nll.NONE, disliked = Nll.NONE;
    for (Judged j : judged) {
      if (!j.scored() || !which.test(j)) continue;
      if (j.liked()) liked = liked.plus(j.refNats(), j.scoredTokens());
      else disliked = disliked.plus(j.refNats(), j.scoredTokens());
    }
    return new Fluency(liked, disliked);
  }

  /** {liked, replies} among the single replies (not A/B candidates) judged in (from, to]. */
  public synchronized long[] singleRate(long fromMillis, long toMillis) {
    long n = 0, liked = 0;
    for (Judged j : judged) {
      if (j.single() && j.atMillis() > fromMillis && j.atMillis() <= toMillis) {
        n++;
        if (j.liked()) liked++;
      }
    }
    return new long[] {liked, n};
  }

  /** A thumb was sent; the server took it as event {@code eventId}. */
  public void thumbSent(String eventId) {
    sentAt.put(eventId, now());
    synchronized (this) {
      thumbs++;
    }
  }

  /** A comparison was sent; the server took it as event {@code eventId}. */
  public void comparisonSent(String eventId) {
    sentAt.put(eventId, now());
    synchronized (this) {
      comparisons++;
    }
  }

  public synchronized void failure() {
    failures++;
  }

  /**
   * The learner is about to take step {@code step} on a batch made from these feedback events (a pair
   * of two thumbs names both): their send times wait for the first served version trained at or past
   * that step. An event is learned once; ids the demo did not send are ignored.
   */
  public void learning(long step, boolean hasPairs, List<String> eventIds) {
    if (hasPairs) pairSteps.add(step);
    List<long[]> found = new ArrayList<>();
    for (String id : eventIds) {
      Long t = sentAt.remove(id);
      if (t != null) found.add(new long[] {step, t});
    }
    synchronized (this) {
      learnedAwaitingServe.addAll(found);
    }
  }

  /**
   * The served version changed to {@code version}, trained through learner step {@code step}
   * (-1 when unknown): freshness is recorded for everything learned at or before that step.
   */
  public synchronized void swapped(long version, long step) {
    long t = now();
    swaps.add(new Swap(t, version));
    if (step < 0) return;
    learnedAwaitingServe.removeIf(e -> {
      if (e[0] > step) return false;
      freshnessMillis.add(t - e[1]);
      return true;
    });
  }

  /**
   * Whether learner step {@code step} trained on preference pairs: then the learner's "kl" is the
   * per-token KL to the reference on the chosen replies; a thumbs-only (KTO) step reports KTO's
   * batch-level estimate instead, which is not comparable.
   */
  public boolean pairStep(long step) {
    return pairSteps.contains(step);
  }

  public synchronized void sample(Sample s) {
    samples.add(s);
  }

  /** Liked rate and count of replies judged in (fromMillis, toMillis]. */
  public synchronized double[] rate(long fromMillis, long toMillis) {
    long n = 0;
    long liked = 0;
    for (Judged j : judged) {
      if (j.atMillis() > fromMillis && j.atMillis() <= toMillis) {
        n++;
        if (j.liked()) liked++;
      }
    }
    return new double[] {n == 0 ? Double.NaN : (double) liked / n, n, liked};
  }

  /** Liked and total replies produced by version 0 (the base model, before the first update). */
  public synchronized long[] baseline() {
    long n = 0;
    long liked = 0;
    for (Judged j : judged) {
      if (j.version() == 0) {
        n++;
        if (j.liked()) liked++;
      }
    }
    return new long[] {liked, n};
  }

  public synchronized List<Judged> judged() {
    return List.copyOf(judged);
  }

  public synchronized List<Swap> swaps() {
    return List.copyOf(swaps);
  }

  public synchronized List<Sample> samples() {
    return List.copyOf(samples);
  }

  public synchronized List<Long> freshnessMillis() {
    return List.copyOf(freshnessMillis);
  }

  public synchronized long thumbs() {
    return thumbs;
  }

  public synchronized long comparisons() {
    return comparisons;
  }

  public synchronized long failures() {
    return failures;
  }
}
