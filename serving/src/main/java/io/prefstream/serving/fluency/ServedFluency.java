package io.prefstream.serving.fluency;

import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.llama.SequenceLogProbs;
import io.prefstream.serving.engine.BatchEngine;
import io.prefstream.serving.metrics.ServingMetrics;
import io.prefstream.serving.registry.Lease;
import io.prefstream.serving.registry.PolicyRegistry;
import io.prefstream.serving.registry.ServedNll;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The serving half of the fluency guard: a sample of the replies this replica serves is scored
 * under the serving version's pinned reference, and the reference's negative log-likelihood per
 * token is reported per policy ({@code prefstream_serving_served_reply_ref_*}) and kept per version
 * ({@link #ofVersion}; the promotion gate's fluency check reads it as {@link ServedNll}). A policy that drifts into broken text (DPO pushing probability mass onto
 * token sequences the base model finds unlikely) shows as a rising NLL, while its reward accuracy
 * may still look fine.
 *
 * <p>Each finished reply is taken with probability {@code rate} (0 turns this off), and the first
 * {@value #BASE_REPLIES} replies of the base weights all (the yardstick of later versions). Sampled replies
 * wait in a bounded queue (a full queue drops the sample and counts it, never slowing a request)
 * and are scored on one daemon thread as scoring sequences of the replica's {@link BatchEngine},
 * in the same steps as generation, so their cost shows as a little prefill work; they only take
 * places the engine has spare, always leaving one free for users ({@link #awaitRoom}). A reply is scored
 * as training encodes it after its prompt (the reply's text and its end, as Score and best-of-n
 * score it), so the figure compares with the learner's {@code fluency/ref_nll_chosen} of the same
 * texts. Best-of-n replies were scored under the reference already; theirs is recorded without a
 * second pass ({@link #offerScored}), for every candidate the app was given (an A/B pair shows two).
 */
public final class ServedFluency implements ServedNll, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ServedFluency.class);
  /** Sampled replies waiting to be scored; more are dropped (and counted). */
  static final int QUEUE = 256;
  /** Replies scored together in one call to the engine. */
  private static final int BATCH = 8;
  /** Versions per policy whose means are kept. */
  static final int VERSIONS_KEPT = 64;
  /** Replies in the moving window behind the per-policy gauge. */
  static final int WINDOW = 64;
  /** Replies of the base weights (version 0) per policy that are all scored, whatever the rate. */
  static final int BASE_REPLIES = 64;
  /** How often a waiting sampler looks for a free place in the engine. */
  private static final long ROOM_POLL_MILLIS = 20;
  /** Scored replies of a version before the gate uses its figure ({@link #perToken}). */
  static final int GATE_MIN_REPLIES = 16;

  /**
   * The reference NLL of some replies (of one version, a window, or the demo's judged ones): nats summed over
   * their tokens, with the sums of squares that give the figure's standard error. The one place that adds replies'
   * NLL up.
   */
  public record Nll(double nats, long tokens, long replies, double natsSquared, double tokensSquared,
      double natsTimesTokens) {
    /** No replies. */
    public static final Nll NONE = new Nll(0, 0, 0, 0, 0, 0);

    /** One reply of {@code n} nats over {@code t} tokens. */
    public static Nll of(double n, long t) {
      return NONE.plus(n, t);
    }

    public double perToken() {
      return tokens == 0 ? Double.NaN : nats / tokens;
    }

    /**
     * The standard error of {@link #perToken()} over independent replies (the delta method for a ratio of two sums:
     * the spread of each reply's nats around the figure times its tokens, over the mean reply length); NaN under two
     * replies.
     */
    public double standardError() {
      if (replies < 2 || tokens == 0) return Double.NaN;
      double k = replies, r = perToken();
      // sum over replies of (nats_i - r tokens_i)^2, expanded
      double spread = natsSquared - 2 * r * natsTimesTokens + r * r * tokensSquared;
      return Math.sqrt(Math.max(0, spread) / (k - 1) / k) / (tokens / k);
    }

    /** These replies and one more, of {@code n} nats over {@code t} tokens. */
    public Nll plus(double n, long t) {
      return new Nll(nats + n, tokens + t, replies + 1, natsSquared + n * n, tokensSquared + (double) t * t,
          natsTimesTokens + n * t);
    }

    /** These replies and {@code other}'s. */
    public Nll plus(Nll other) {
      return new Nll(nats + other.nats, tokens + other.tokens, replies + other.replies, natsSquared + other.natsSquared,
          tokensSquared + other.tokensSquared, natsTimesTokens + other.natsTimesTokens);
    }
  }

  private record Sample(String policyId, long version, String referenceId, int[] prompt, int[] completion) {}

  private final PolicyRegistry registry;
  private final BatchEngine engine;
  private final ServingMetrics metrics;
  private final double rate;
  private final BlockingQueue<Sample> queue = new ArrayBlockingQueue<>(QUEUE);
  private final Map<String, ConcurrentSkipListMap<Long, Nll>> versions = new ConcurrentHashMap<>();
  private final Map<String, Window> windows = new ConcurrentHashMap<>();
  private final Map<String, AtomicInteger> baseOffered = new ConcurrentHashMap<>();
  private final AtomicBoolean closed = new AtomicBoolean();
  private final Thread worker;

  /**
   * @param rate the share of served replies scored, in [0, 1]; 0 starts no thread
   */
  public ServedFluency(PolicyRegistry registry, BatchEngine engine, ServingMetrics metrics, double rate) {
    if (!(rate >= 0 && rate <= 1)) throw new IllegalArgumentException("fluency sample rate must be in [0, 1], got " + rate);
    this.registry = registry;
    this.engine = engine;
    this.metrics = metrics;
    this.rate = rate;
    this.worker = rate == 0 ? null : Thread.ofPlatform().name("prefstream-fluency").daemon().start(this::work);
  }

  /**
   * Whether to score this reply: a {@code rate} share, and every one of the first {@value #BASE_REPLIES}
   * replies of the base weights (version 0) per policy, since the base model's figure is what every
   * later version is compared with and the base usually serves only until the first update.
   */
  private boolean sampled(Lease lease) {
    if (rate == 0 || closed.get()) return false;
    if (lease.version() == 0
        && baseOffered.computeIfAbsent(lease.policyId(), k -> new AtomicInteger()).incrementAndGet() <= BASE_REPLIES) {
      return true;
    }
    return rate >= 1 || ThreadLocalRandom.current().nextDouble() < rate;
  }

  /**
   * A reply just served from {@code lease}: maybe sampled, then scored later under its reference.
   * {@code encoded} gives the reply as training encodes it after its prompt (asked only when sampled).
   */
  public void offer(Lease lease, Supplier<PromptResponse> encoded) {
    if (!sampled(lease)) return;
    PromptResponse pr;
    try {
      pr = encoded.get();
    } catch (RuntimeException e) {
      // The reply was served already: a reply that cannot be encoded for scoring only goes unmeasured.
      LOG.debug("a served reply of {} could not be encoded for scoring: {}", lease.policyId(), e.toString());
      metrics.servedReplySamplesDropped.labelValues(lease.policyId()).inc();
      return;
    }
    if (pr.response().length == 0) return;
    if (!queue.offer(new Sample(lease.policyId(), lease.version(), lease.referenceId(), pr.prompt(), pr.response()))) {
      metrics.servedReplySamplesDropped.labelValues(lease.policyId()).inc();
    }
  }

  /** A reply served from {@code lease} whose reference log-probability is known already (best-of-n). */
  public void offerScored(Lease lease, double referenceLogp, int tokens) {
    if (tokens == 0 || !sampled(lease)) return;
    record(lease.policyId(), lease.version(), -referenceLogp, tokens);
  }

  /**
   * Drops the oldest versions beyond {@link #VERSIONS_KEPT}, except the base weights' (version 0): their
   * replies are the yardstick every later version is held against (the gate's and the demo's), so a
   * policy with many versions must not lose it.
   */
  static void trim(NavigableMap<Long, ?> perVersion) {
    while (perVersion.size() > VERSIONS_KEPT) {
      Long oldest = perVersion.firstKey();
      perVersion.remove(oldest == 0 ? perVersion.higherKey(0L) : oldest);
    }
  }

  /** The reference NLL of this version's sampled replies so far, if any were scored (the base and the newest versions). */
  public Optional<Nll> ofVersion(String policyId, long version) {
    var m = versions.get(policyId);
    return m == null ? Optional.empty() : Optional.ofNullable(m.get(version));
  }

  /** The version's reference NLL per token once {@value #GATE_MIN_REPLIES} of its replies were scored (for the gate). */
  @Override
  public OptionalDouble perToken(String policyId, long version) {
    return forGate(policyId, version).map(n -> OptionalDouble.of(n.perToken())).orElse(OptionalDouble.empty());
  }

  /** The standard error of {@link #perToken(String, long)}, from the same replies. */
  @Override
  public OptionalDouble standardError(String policyId, long version) {
    return forGate(policyId, version).map(n -> OptionalDouble.of(n.standardError())).orElse(OptionalDouble.empty());
  }

  private Optional<Nll> forGate(String policyId, long version) {
    return ofVersion(policyId, version).filter(n -> n.replies() >= GATE_MIN_REPLIES && n.tokens() > 0);
  }

  /** Sampled replies still waiting to be scored. */
  public int pending() {
    return queue.size();
  }

  private void record(String policyId, long version, double nats, long tokens) {
    metrics.servedReplyRefNats.labelValues(policyId).inc(nats);
    metrics.servedReplyRefTokens.labelValues(policyId).inc(tokens);
    metrics.servedReplySamples.labelValues(policyId).inc();
    var perVersion = versions.computeIfAbsent(policyId, k -> new ConcurrentSkipListMap<>());
    perVersion.merge(version, Nll.of(nats, tokens), Nll::plus);
    trim(perVersion);
    double windowed = windows.computeIfAbsent(policyId, k -> new Window()).add(nats, tokens);
    metrics.servedReplyRefNll.labelValues(policyId).set(windowed);
  }

  private void work() {
    List<Sample> batch = new ArrayList<>(BATCH);
    while (!closed.get()) {
      try {
        Sample first = queue.poll(100, TimeUnit.MILLISECONDS);
        if (first == null) continue;
        batch.add(first);
        queue.drainTo(batch, BATCH - 1);
        score(batch);
      } catch (InterruptedException e) {
        return;
      } catch (RuntimeException e) {
        if (closed.get()) return;
        LOG.warn("scoring served replies under their reference failed; {} samples skipped", batch.size(), e);
      } finally {
        batch.clear();
      }
    }
  }

  /**
   * Waits until the engine has more than one free place and nobody waiting, and returns how many
   * sequences the sampler may add: all free places but one, so a user's request that arrives next
   * still finds a place (a replica with {@code --max-batch 1} never scores). The check and the
   * submission are not atomic: at worst a user's request waits in the engine's queue for the step
   * or two a scoring sequence takes.
   */
  private int awaitRoom() throws InterruptedException {
    while (!closed.get()) {
      int free = engine.config().maxBatch() - engine.running() - engine.waiting();
      if (free > 1 && engine.waiting() == 0) return free - 1;
      Thread.sleep(ROOM_POLL_MILLIS);
    }
    throw new InterruptedException("closed");
  }

  /** Scores a batch, one engine call per (policy, reference) group, never taking a user's place. */
  private void score(List<Sample> all) throws InterruptedException {
    Map<List<String>, List<Sample>> groups = new LinkedHashMap<>();
    for (Sample s : all) groups.computeIfAbsent(List.of(s.policyId(), s.referenceId()), k -> new ArrayList<>()).add(s);
    for (List<Sample> whole : groups.values()) {
      for (int from = 0; from < whole.size(); ) {
        int n = Math.min(awaitRoom(), whole.size() - from);
        scoreGroup(whole.subList(from, from + n));
        from += n;
      }
    }
  }

  private void scoreGroup(List<Sample> group) {
    Sample head = group.getFirst();
    try (Lease reference = registry.acquireReference(head.policyId(), head.referenceId())) {
      List<PromptResponse> prs = group.stream().map(s -> new PromptResponse(s.prompt(), s.completion())).toList();
      SequenceLogProbs lps = engine.score(List.of(reference.model()), prs, closed::get).getFirst();
      for (int i = 0; i < group.size(); i++) {
        Sample s = group.get(i);
        record(s.policyId(), s.version(), -lps.sum(i), s.completion().length);
      }
    } catch (Exception e) {
      if (closed.get()) return;
      // The reference snapshot went away (evicted, policy dropped), or the engine refused: not scored.
      LOG.debug("could not score {} served replies of {} under {}: {}", group.size(), head.policyId(),
          head.referenceId(), e.toString());
      metrics.servedReplySamplesDropped.labelValues(head.policyId()).inc(group.size());
    }
  }

  /** The last {@link #WINDOW} replies' nats and tokens. */
  private static final class Window {
    private final double[] nats = new double[WINDOW];
    private final long[] tokens = new long[WINDOW];
    private int next;

    synchronized double add(double n, long t) {
      nats[next] = n;
      tokens[next] = t;
      next = (next + 1) % WINDOW;
      double natsSum = 0;
      long tokenSum = 0;
      for (int i = 0; i < WINDOW; i++) {
        natsSum += nats[i];
        tokenSum += tokens[i];
      }
      return tokenSum == 0 ? Double.NaN : natsSum / tokenSum;
    }
  }

  @Override
  public void close() {
    if (!closed.compareAndSet(false, true) || worker == null) return;
    worker.interrupt();
    try {
      worker.join(5_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
