package io.prefstream.serving.engine;

import io.grpc.Status;
import io.prefstream.model.generate.FinishReason;
import io.prefstream.model.llama.BatchDecoder;
import io.prefstream.model.llama.LlamaModel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engine's scheduler thread (everything here runs on it): admits sequences, starting each from
 * the {@link PrefixCache} where it can; runs one {@link BatchDecoder} step over every active
 * sequence (decode rows, up to {@code prefillChunk} prompt tokens, scoring rows); samples, emits
 * and retires; pauses and finally stops sequences whose stream reader stays behind.
 */
final class Scheduler {
  private static final Logger LOG = LoggerFactory.getLogger(Scheduler.class);

  private final EngineConfig cfg;
  private final BatchDecoder decoder;
  private final Admission admission;
  private final EngineStats stats;
  private final KvPool pool;
  private final PrefixCache prefixes;
  private final List<EngineSequence> active = new ArrayList<>();

  Scheduler(EngineConfig cfg, BatchDecoder decoder, Admission admission, EngineStats stats) {
    this.cfg = cfg;
    this.decoder = decoder;
    this.admission = admission;
    this.stats = stats;
    // Spare caches up to the running sequences' own budget: enough to recycle a full batch's.
    this.pool = new KvPool(cfg.kvCacheBytes(), stats);
    this.prefixes = new PrefixCache(cfg.prefixCacheBytes(), pool);
  }

  /** Bytes of spare KV caches kept for new sequences (readable from any thread). */
  long spareKvBytes() {
    return pool.bytes();
  }

  /** Bytes the prefix cache keeps (readable from any thread). */
  long prefixCacheBytes() {
    return prefixes.bytes();
  }

  /** The scheduler thread's body: until the admission closes or the thread is interrupted. */
  void loop() {
    try {
      while (true) {
        List<EngineSequence> fresh = admission.take(!active.isEmpty());
        if (fresh == null) break;
        for (EngineSequence s : fresh) {
          s.cache = pool.take(s.model, s.capacity());
          // At least the prompt's last token is fed: its logits give the first new token. A scoring
          // sequence computes every position that predicts a target.
          s.fed = prefixes.reuse(s.model, s.prompt, s.cache, Math.min(s.prompt.length - 1, s.firstTarget));
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
      } else if (s.events.size() >= BatchEngine.STREAM_BUFFER) {
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
      fail(s, Status.RESOURCE_EXHAUSTED.withDescription("the stream's reader left " + BatchEngine.STREAM_BUFFER + " tokens unread for more than "
          + timeout + "; the generation was stopped to free its place (read the stream faster, or use the unary call)")
          .asRuntimeException());
    }
    int rows = 0;
    for (Map<Object, List<EngineSequence>> byAdapter : groups.values()) {
      List<EngineSequence> seqs = new ArrayList<>();
      byAdapter.values().forEach(seqs::addAll);
      List<BatchDecoder.Row> batch = new ArrayList<>(seqs.size());
      for (EngineSequence s : seqs) {
        int[] tokens = feed.get(s);
        int[] targets = s.scoring() ? Arrays.copyOfRange(s.targets, s.fed, s.fed + tokens.length) : null;
        batch.add(new BatchDecoder.Row(s.model, s.cache, tokens, targets));
      }
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
        if (s.scoring()) {
          for (int j = 0; j < logits[i].length; j++) if (s.targets[s.fed + j] >= 0) s.targetLogProbs[s.scored++] = logits[i][j];
        }
        if (s.prefilling()) {
          s.fed += feed.get(s).length;
          if (s.prefilling()) continue; // more of the prompt to feed
        }
        if (s.scoring()) retire(s, FinishReason.LENGTH);
        else advance(s, logits[i]);
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
    if (!s.quiet) s.events.add(new EngineSequence.Event(token, null, null));
    if (s.generated == s.budget) retire(s, FinishReason.LENGTH);
    else s.next = token;
  }

  private void retire(EngineSequence s, FinishReason end) {
    if (s.cache != null) prefixes.offer(s.model, s.history, s.cache, s.kvBytes);
    s.cache = null;
    active.remove(s);
    admission.retire(s);
    // Last: a caller that gets its answer and sends the next request at once finds the place free already.
    if (end != null) s.events.add(new EngineSequence.Event(-1, end, null));
  }

  private void fail(EngineSequence s, Throwable t) {
    RuntimeException e = t instanceof RuntimeException r ? r : new IllegalStateException("generation failed: " + t, t);
    s.events.add(new EngineSequence.Event(-1, null, e));
    if (active.contains(s)) {
      // Its positions may be half written by a failed step: the buffers are reusable, the contents are not.
      if (s.cache != null) pool.give(KvPool.shapeOf(s.model, s.cache), s.cache, s.kvBytes);
      s.cache = null;
      active.remove(s);
      admission.retire(s);
    }
  }
}
