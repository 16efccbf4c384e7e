package io.prefstream.serving.engine;

import io.grpc.Status;
import io.prefstream.model.backend.Backend;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.generate.FinishReason;
import io.prefstream.model.generate.GenerationResult;
import io.prefstream.model.generate.Generator;
import io.prefstream.model.generate.SamplingParams;
import io.prefstream.model.generate.TokenListener;
import io.prefstream.model.generate.TokenText;
import io.prefstream.model.llama.BatchDecoder;
import io.prefstream.model.llama.LlamaModel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Continuous batching for a serving replica. One scheduler thread owns every running sequence and
 * loops: take the sequences {@link Admission} let in, drop cancelled ones (their KV cache goes at
 * once), run ONE {@link BatchDecoder} step for all of them (decode rows plus up to
 * {@code prefillChunk} prompt tokens), sample each sequence's next token with its own seeded
 * sampler, hand it to the request's thread and retire finished sequences. A new sequence whose
 * prompt starts with tokens a retired sequence of the same model cached starts from them
 * ({@link PrefixCache}). Sequences on different
 * versions or policies of one base model share the step; each adapter group gets its own LoRA delta.
 *
 * <p>{@link #generate} is what a request thread calls: it blocks, reading its tokens as they come,
 * calls the listener (streaming), checks stop strings and builds the result the same way
 * {@link io.prefstream.model.generate.Generator} does, so greedy output is token-identical to running
 * the request alone ({@code BatchEngineTest}). A listener that throws, or a cancellation seen through
 * {@code cancelled}, cancels the sequence. A sequence whose reader is {@value #STREAM_BUFFER} tokens
 * behind (a slow stream consumer) is paused, keeping its place, so it never slows the others; one
 * paused longer than {@link EngineConfig#stallTimeout} is stopped with RESOURCE_EXHAUSTED, which frees
 * its place and its KV cache.
 */
public final class BatchEngine implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(BatchEngine.class);
  /** Unread tokens a sequence may have before it is paused until its reader catches up. */
  static final int STREAM_BUFFER = 16;

  private final EngineConfig cfg;
  private final LlamaConfig model;
  private final BatchDecoder decoder;
  private final Admission admission;
  private final PrefixCache prefixes; // owner thread only
  private final EngineStats stats = new EngineStats();
  private final Thread owner;
  private final List<EngineSequence> active = new ArrayList<>(); // owner thread only

  public BatchEngine(EngineConfig cfg, LlamaConfig model, Backend backend) {
    this.cfg = cfg;
    this.model = model;
    this.decoder = new BatchDecoder(model, backend);
    this.admission = new Admission(cfg);
    this.prefixes = new PrefixCache(cfg.prefixCacheBytes());
    this.owner = Thread.ofPlatform().name("prefstream-engine").daemon().start(this::loop);
  }

  public EngineConfig config() {
    return cfg;
  }

  public EngineStats stats() {
    return stats;
  }

  /** Sequences running now (admitted, not retired). */
  public int running() {
    return admission.running();
  }

  /** Requests waiting for a place. */
  public int waiting() {
    return admission.waiting();
  }

  /** KV-cache bytes the running sequences hold. */
  public long reservedKvBytes() {
    return admission.reservedBytes();
  }

  /** KV-cache bytes kept for prefix reuse (see {@link EngineConfig#prefixCacheBytes}). */
  public long prefixCacheBytes() {
    return prefixes.bytes();
  }

  /** Bytes of KV cache a sequence of {@code tokens} positions takes (rounded up as the model allocates it). */
  public long kvBytes(int tokens) {
    long rows = (tokens + Backend.KV_CACHE_ALIGN - 1) / Backend.KV_CACHE_ALIGN * (long) Backend.KV_CACHE_ALIGN;
    return rows * model.numLayers() * 2L * model.numKvHeads() * model.headDim() * Float.BYTES;
  }

  /**
   * Generates a continuation of {@code prompt} with {@code model} (a version's model; it must share
   * the base weights with the others this engine runs, or it gets steps of its own). Blocks until
   * done; {@code listener} runs on the calling thread. Throws RESOURCE_EXHAUSTED (a
   * {@link io.grpc.StatusRuntimeException}) when the queue is full, and {@link CancellationException}
   * when {@code cancelled} turns true.
   */
  public GenerationResult generate(LlamaModel model, int[] prompt, SamplingParams params, TokenText text,
      TokenListener listener, BooleanSupplier cancelled) {
    int budget = Generator.tokenBudget(model, prompt, params, text);
    EngineSequence s = new EngineSequence(model, prompt.clone(), params, budget, kvBytes(prompt.length + budget));
    admission.submit(s, stats.retryHintMillis(budget));
    try {
      return consume(s, text, listener, cancelled);
    } finally {
      s.cancel(); // a no-op once finished; otherwise the scheduler frees the cache at the next step
      admission.withdraw(s);
    }
  }

  private GenerationResult consume(EngineSequence s, TokenText text, TokenListener listener, BooleanSupplier cancelled) {
    SequenceReader reader = new SequenceReader(s, text, listener);
    while (true) {
      EngineSequence.Event ev;
      try {
        ev = s.events.poll(20, TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new CancellationException("interrupted while generating");
      }
      if (ev == null) {
        if (cancelled.getAsBoolean()) throw new CancellationException("the call was cancelled");
        continue;
      }
      if (cancelled.getAsBoolean() && ev.error() == null) throw new CancellationException("the call was cancelled");
      GenerationResult r = reader.take(ev);
      if (r != null) return r;
    }
  }

  /**
   * Generates one continuation of {@code prompt} per entry of {@code params} (best-of-n: the
   * candidates run as sequences of the same steps), without streaming. Returns the results in the
   * order of {@code params}. Throws as {@link #generate} does; on any failure or cancellation every
   * candidate is stopped.
   */
  public List<GenerationResult> generateAll(LlamaModel model, int[] prompt, List<SamplingParams> params, TokenText text,
      BooleanSupplier cancelled) {
    List<EngineSequence> seqs = new ArrayList<>();
    try {
      for (SamplingParams p : params) {
        int budget = Generator.tokenBudget(model, prompt, p, text);
        EngineSequence s = new EngineSequence(model, prompt.clone(), p, budget, kvBytes(prompt.length + budget));
        admission.submit(s, stats.retryHintMillis(budget));
        seqs.add(s);
      }
      SequenceReader[] readers = new SequenceReader[seqs.size()];
      GenerationResult[] done = new GenerationResult[seqs.size()];
      for (int i = 0; i < readers.length; i++) readers[i] = new SequenceReader(seqs.get(i), text, null);
      int left = readers.length;
      while (left > 0) {
        if (cancelled.getAsBoolean()) throw new CancellationException("the call was cancelled");
        boolean progressed = false;
        for (int i = 0; i < readers.length; i++) {
          if (done[i] != null) continue;
          EngineSequence.Event ev = seqs.get(i).events.poll();
          if (ev == null) continue;
          progressed = true;
          done[i] = readers[i].take(ev);
          if (done[i] != null) left--;
        }
        if (!progressed && left > 0) LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(2));
      }
      return List.of(done);
    } finally {
      for (EngineSequence s : seqs) {
        s.cancel();
        admission.withdraw(s);
      }
    }
  }

  // ---- the scheduler thread -------------------------------------------------------------------

  private void loop() {
    try {
      while (true) {
        List<EngineSequence> fresh = admission.take(!active.isEmpty());
        if (fresh == null) break;
        for (EngineSequence s : fresh) {
          s.cache = s.model.newKvCache(s.capacity());
          // At least the prompt's last token is fed: its logits give the first new token.
          s.fed = prefixes.reuse(s.model, s.prompt, s.cache, s.prompt.length - 1);
          if (s.fed > 0) stats.recordPrefixReuse(s.fed);
          active.add(s);
        }
        for (EngineSequence s : List.copyOf(active)) if (s.cancelled()) retire(s, null);
        if (active.isEmpty()) continue;
        long t0 = System.nanoTime();
        int rows = step();
        if (rows > 0) stats.recordStep(rows, System.nanoTime() - t0);
        else admission.idle(); // every sequence waits for its reader: no step to run
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Throwable t) {
      LOG.error("the serving engine's scheduler failed; failing every running request", t);
      for (EngineSequence s : List.copyOf(active)) fail(s, t);
    }
    RuntimeException closing = Status.UNAVAILABLE.withDescription("the serving engine shut down").asRuntimeException();
    for (EngineSequence s : List.copyOf(active)) fail(s, closing);
    for (EngineSequence s : admission.close()) s.events.add(new EngineSequence.Event(-1, null, closing));
  }

  /** One step over every active sequence, grouped by base weights and then by adapter; returns rows stepped. */
  private int step() {
    Map<LlamaModel, Map<Object, List<EngineSequence>>> groups = new LinkedHashMap<>();
    int prefill = cfg.prefillChunk();
    Map<EngineSequence, int[]> feed = new LinkedHashMap<>();
    List<EngineSequence> stalled = new ArrayList<>();
    for (EngineSequence s : active) {
      int[] tokens;
      if (s.prefilling()) {
        if (prefill == 0) continue; // this step's prompt budget is spent; the prompt continues next step
        int k = Math.min(prefill, s.prompt.length - s.fed);
        tokens = Arrays.copyOfRange(s.prompt, s.fed, s.fed + k);
        prefill -= k;
      } else if (s.events.size() >= STREAM_BUFFER) {
        // Its reader is behind: pause it (it keeps its place) rather than slow the batch or buffer
        // more; a reader that stays behind too long loses the place.
        long now = System.nanoTime();
        if (s.pausedSince == 0) s.pausedSince = now;
        else if (now - s.pausedSince > cfg.stallTimeout().toNanos()) stalled.add(s);
        continue;
      } else {
        s.pausedSince = 0;
        tokens = new int[] {s.next};
      }
      feed.put(s, tokens);
      LlamaModel base = groups.keySet().stream().filter(b -> b.sharesBaseWith(s.model)).findFirst().orElse(s.model);
      Object adapter = s.model.lora().isPresent() ? s.model.lora().get() : "none";
      groups.computeIfAbsent(base, b -> new LinkedHashMap<>()).computeIfAbsent(adapter, a -> new ArrayList<>()).add(s);
    }
    for (EngineSequence s : stalled) {
      stats.recordStalled();
      long ms = cfg.stallTimeout().toMillis();
      String timeout = ms % 1000 == 0 ? ms / 1000 + " s" : ms + " ms";
      fail(s, Status.RESOURCE_EXHAUSTED.withDescription("the stream's reader left " + STREAM_BUFFER + " tokens unread for more than "
          + timeout + "; the generation was stopped to free its place (read the stream faster, or use the unary call)")
          .asRuntimeException());
    }
    int rows = 0;
    for (Map<Object, List<EngineSequence>> byAdapter : groups.values()) {
      List<EngineSequence> seqs = new ArrayList<>();
      byAdapter.values().forEach(seqs::addAll);
      List<BatchDecoder.Row> batch = new ArrayList<>(seqs.size());
      for (EngineSequence s : seqs) batch.add(new BatchDecoder.Row(s.model, s.cache, feed.get(s)));
      float[][] logits;
      try {
        logits = decoder.step(batch);
      } catch (RuntimeException e) {
        LOG.error("a batched step of {} sequences failed", seqs.size(), e);
        for (EngineSequence s : seqs) fail(s, e);
        continue;
      }
      for (int i = 0; i < seqs.size(); i++) {
        EngineSequence s = seqs.get(i);
        rows += feed.get(s).length;
        if (s.prefilling()) {
          s.fed += feed.get(s).length;
          if (s.prefilling()) continue; // more of the prompt to feed
        }
        advance(s, logits[i]);
      }
    }
    return rows;
  }

  /** Samples the next token of a sequence from its logits, then emits it or ends the sequence. */
  private void advance(EngineSequence s, float[] logits) {
    int token = s.sampler.sample(logits);
    if (s.params.eosTokenIds().contains(token)) {
      retire(s, FinishReason.EOS);
      return;
    }
    s.generated++;
    s.history[s.prompt.length + s.generated - 1] = token;
    s.events.add(new EngineSequence.Event(token, null, null));
    if (s.generated == s.budget) retire(s, FinishReason.LENGTH);
    else s.next = token;
  }

  private void retire(EngineSequence s, FinishReason end) {
    if (end != null) s.events.add(new EngineSequence.Event(-1, end, null));
    if (s.cache != null) prefixes.offer(s.model, s.history, s.cache, s.kvBytes);
    s.cache = null;
    active.remove(s);
    admission.retire(s);
  }

  private void fail(EngineSequence s, Throwable t) {
    RuntimeException e = t instanceof RuntimeException r ? r : new IllegalStateException("generation failed: " + t, t);
    s.events.add(new EngineSequence.Event(-1, null, e));
    if (active.contains(s)) {
      s.cache = null;
      active.remove(s);
      admission.retire(s);
    }
  }

  /** Stops the scheduler; running and waiting requests end with UNAVAILABLE. */
  @Override
  public void close() {
    owner.interrupt();
    try {
      owner.join(5_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
