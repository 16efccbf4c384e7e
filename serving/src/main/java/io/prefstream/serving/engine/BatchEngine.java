package io.prefstream.serving.engine;

import io.prefstream.model.backend.Backend;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.generate.GenerationResult;
import io.prefstream.model.generate.Generator;
import io.prefstream.model.generate.SamplingParams;
import io.prefstream.model.generate.TokenListener;
import io.prefstream.model.generate.TokenText;
import io.prefstream.model.llama.BatchDecoder;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.llama.SequenceLogProbs;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.stream.IntStream;

/**
 * Continuous batching for a serving replica. One scheduler thread ({@link Scheduler}) owns every
 * running sequence and loops: take the sequences {@link Admission} let in, drop cancelled ones
 * (their KV cache goes at once), run ONE {@link BatchDecoder} step for all of them (decode rows plus
 * up to {@code prefillChunk} prompt or scoring tokens), sample each sequence's next token with its
 * own seeded sampler, hand it to the request's thread and retire finished sequences. A new sequence
 * whose prompt starts with tokens a retired sequence of the same model cached starts from them
 * ({@link PrefixCache}). Sequences on different versions or policies of one base model share the
 * step; each adapter group gets its own LoRA delta. Score requests run as scoring sequences of the
 * same steps ({@link #score}).
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
  /** Unread tokens a sequence may have before it is paused until its reader catches up. */
  static final int STREAM_BUFFER = 16;

  private final EngineConfig cfg;
  private final LlamaConfig model;
  private final Admission admission;
  private final EngineStats stats = new EngineStats();
  private final Scheduler scheduler;
  private final Thread owner;

  public BatchEngine(EngineConfig cfg, LlamaConfig model, Backend backend) {
    this.cfg = cfg;
    this.model = model;
    this.admission = new Admission(cfg);
    this.scheduler = new Scheduler(cfg, new BatchDecoder(model, backend), admission, stats);
    this.owner = Thread.ofPlatform().name("prefstream-engine").daemon().start(scheduler::loop);
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

  /** Bytes of retired sequences' KV caches kept to be reused by new ones (at most the KV budget). */
  public long spareKvBytes() {
    return scheduler.spareKvBytes();
  }

  /** KV-cache bytes kept for prefix reuse (see {@link EngineConfig#prefixCacheBytes}). */
  public long prefixCacheBytes() {
    return scheduler.prefixCacheBytes();
  }

  /** Bytes of KV cache a sequence of {@code tokens} positions takes (rounded up as the model allocates it). */
  public long kvBytes(int tokens) {
    long rows = LlamaModel.kvCacheRows(tokens);
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
    EngineSequence s = new EngineSequence(model, prompt.clone(), params, budget, kvBytes(prompt.length + budget),
        listener == null && params.stopStrings().isEmpty());
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
        EngineSequence s = new EngineSequence(model, prompt.clone(), p, budget, kvBytes(prompt.length + budget),
            p.stopStrings().isEmpty());
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

  /**
   * Log-probabilities of each response of {@code batch} under each of {@code models} (one result per
   * model, in order; for Score and best-of-n: a version and its reference). Each (model, response)
   * is a sequence of the engine's steps: its prompt and response are fed like a prompt, in chunks,
   * beside generation rows and the other models' sequences, and the positions that predict
   * response tokens give their log-probabilities (as {@link LlamaModel#logProbs} computes them, up
   * to the order of float sums in attention). Prompt positions may come from the prefix cache. Throws
   * as {@link #generate} does.
   */
  public List<SequenceLogProbs> score(List<LlamaModel> models, List<PromptResponse> batch, BooleanSupplier cancelled) {
    List<EngineSequence> seqs = new ArrayList<>();
    try {
      for (LlamaModel m : models) {
        for (PromptResponse pr : batch) {
          if (pr.response().length == 0) continue; // nothing to score
          int[] all = IntStream.concat(Arrays.stream(pr.prompt()), Arrays.stream(pr.response())).toArray();
          int[] fed = Arrays.copyOf(all, all.length - 1), targets = new int[fed.length];
          int p = pr.prompt().length;
          for (int i = 0; i < fed.length; i++) targets[i] = i >= p - 1 ? all[i + 1] : -1;
          EngineSequence s = new EngineSequence(m, fed, targets, kvBytes(fed.length));
          admission.submit(s, stats.retryHintMillis(1));
          seqs.add(s);
        }
      }
      for (EngineSequence s : seqs) awaitEnd(s, cancelled);
      List<SequenceLogProbs> out = new ArrayList<>(models.size());
      int next = 0;
      for (int mi = 0; mi < models.size(); mi++) {
        double[] sums = new double[batch.size()];
        int[] counts = new int[batch.size()];
        float[][] perToken = new float[batch.size()][];
        for (int i = 0; i < batch.size(); i++) {
          counts[i] = batch.get(i).response().length;
          perToken[i] = counts[i] == 0 ? new float[0] : seqs.get(next++).targetLogProbs;
          for (float lp : perToken[i]) sums[i] += lp;
        }
        out.add(new SequenceLogProbs(sums, counts, perToken));
      }
      return out;
    } finally {
      for (EngineSequence s : seqs) {
        s.cancel();
        admission.withdraw(s);
      }
    }
  }

  /** Waits for a sequence's end event (what the scheduler wrote before it happens-before this). */
  private static void awaitEnd(EngineSequence s, BooleanSupplier cancelled) {
    while (true) {
      if (cancelled.getAsBoolean()) throw new CancellationException("the call was cancelled");
      EngineSequence.Event ev;
      try {
        ev = s.events.poll(20, TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new CancellationException("interrupted while scoring");
      }
      if (ev == null) continue;
      if (ev.error() != null) throw ev.error();
      if (ev.end() != null) return;
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
