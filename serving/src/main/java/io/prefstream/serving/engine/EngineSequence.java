package io.prefstream.serving.engine;

import io.prefstream.model.generate.FinishReason;
import io.prefstream.model.generate.Sampler;
import io.prefstream.model.generate.SamplingParams;
import io.prefstream.model.llama.KvCache;
import io.prefstream.model.llama.LlamaModel;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * One generation request inside the engine. The scheduler thread owns the cache and the decode
 * state; the request's own thread reads {@link #events} (tokens, then an end or an error) and may
 * set {@link #cancel()} at any time. The event queue never blocks the scheduler: the scheduler stops
 * stepping a sequence whose reader has {@link BatchEngine#STREAM_BUFFER} unread tokens.
 */
final class EngineSequence {
  /** A token (end and error null), the end of generation, or a failure. */
  record Event(int token, FinishReason end, RuntimeException error) {}

  final LlamaModel model;
  final int[] prompt;
  final SamplingParams params;
  final Sampler sampler; // null when scoring
  final int budget;
  final long kvBytes;
  /** The prompt, then each token sampled (scheduler thread): what the cache holds is a prefix of it. */
  final int[] history;
  /**
   * A scoring sequence (no generation): for each prompt token, the token whose log-probability its
   * position predicts, or -1; null for generation. Tokens before {@link #firstTarget} may come from the
   * prefix cache.
   */
  final int[] targets;
  final int firstTarget;
  /** A scoring sequence's log-probabilities of its targets, in order (scheduler thread until its end event). */
  final float[] targetLogProbs;
  int scored;
  final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
  /**
   * Whether the reader only needs the end: no listener and no stop strings. Then the scheduler sends
   * no token events (each would wake the reader's thread, which on a busy machine takes a core from
   * the step); the reader takes the tokens from {@link #history} at the end event.
   */
  final boolean quiet;
  private volatile boolean cancelled;

  // scheduler-thread state
  KvCache cache;
  int fed;
  int generated;
  int next = -1;
  /** When the scheduler first skipped this sequence for a full reader buffer (System.nanoTime), 0 when running. */
  long pausedSince;

  EngineSequence(LlamaModel model, int[] prompt, SamplingParams params, int budget, long kvBytes, boolean quiet) {
    this.quiet = quiet;
    this.model = model;
    this.prompt = prompt;
    this.params = params;
    this.sampler = new Sampler(params);
    this.budget = budget;
    this.kvBytes = kvBytes;
    this.history = java.util.Arrays.copyOf(prompt, prompt.length + budget);
    this.targets = null;
    this.firstTarget = prompt.length;
    this.targetLogProbs = null;
  }

  /** A scoring sequence: feeds {@code tokens}, collecting the log-probabilities of {@code targets}. */
  EngineSequence(LlamaModel model, int[] tokens, int[] targets, long kvBytes) {
    this.quiet = true;
    this.model = model;
    this.prompt = tokens;
    this.params = SamplingParams.greedy(1, -1);
    this.sampler = null;
    this.budget = 0;
    this.kvBytes = kvBytes;
    this.history = tokens;
    this.targets = targets;
    int first = 0, count = 0;
    while (first < targets.length && targets[first] < 0) first++;
    for (int t : targets) if (t >= 0) count++;
    this.firstTarget = first;
    this.targetLogProbs = new float[count];
  }

  boolean scoring() {
    return targets != null;
  }

  void cancel() {
    cancelled = true;
  }

  boolean cancelled() {
    return cancelled;
  }

  boolean prefilling() {
    return fed < prompt.length;
  }

  /** Tokens this sequence will feed at most (prompt + budget), the size of its KV cache. */
  int capacity() {
    return prompt.length + budget;
  }
}
