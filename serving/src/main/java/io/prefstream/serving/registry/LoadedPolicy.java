package io.prefstream.serving.registry;

import io.prefstream.model.generate.Generator;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.llama.SequenceLogProbs;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * One policy version resident in memory, reference counted. The registry holds one reference while
 * the version is routed to (or is a reference model); every request holds one from start to finish
 * through a {@link Lease}. When the registry {@linkplain #retire() retires} it and the last request
 * ends, the count reaches zero, the model is dropped and the release callback runs, so memory goes
 * back as soon as the version's last request is done.
 *
 * <p>It knows the {@linkplain #bytes() memory it holds} beyond the shared base weights, which the
 * registry's resident budget counts.
 *
 * <p>Generation is safe from many threads (each call owns its KV cache and only reads the
 * weights); scoring uses the model's shared workspace and is serialised per version.
 */
public final class LoadedPolicy {
  private final long version;
  private final String referenceId;
  private final Map<String, Double> metrics;
  private final long bytes;
  private final AtomicInteger refs = new AtomicInteger(1);
  private final Consumer<LoadedPolicy> onRelease;
  private volatile LlamaModel model;
  private volatile Generator generator;

  /** A copy that holds nothing beyond the base weights (the base itself, test doubles). */
  LoadedPolicy(long version, String referenceId, Map<String, Double> metrics, LlamaModel model,
      Consumer<LoadedPolicy> onRelease) {
    this(version, referenceId, metrics, model, 0, onRelease);
  }

  /** @param bytes what this copy holds beyond the base weights (see {@link #bytes()}) */
  LoadedPolicy(long version, String referenceId, Map<String, Double> metrics, LlamaModel model, long bytes,
      Consumer<LoadedPolicy> onRelease) {
    if (bytes < 0) throw new IllegalArgumentException("bytes must be >= 0, got " + bytes);
    this.version = version;
    this.referenceId = referenceId;
    this.metrics = Map.copyOf(metrics);
    this.bytes = bytes;
    this.model = model;
    this.generator = new Generator(model);
    this.onRelease = onRelease;
  }

  public long version() {
    return version;
  }

  /** The reference snapshot this version was trained against ("base" for the base weights). */
  public String referenceId() {
    return referenceId;
  }

  public Map<String, Double> metrics() {
    return metrics;
  }

  /**
   * Bytes this copy holds on the backend beyond the shared base weights: a LoRA version's factors
   * (with the gradient buffers the adapter allocates beside them), a full-weight version's every
   * tensor in float32; 0 for the base. Scratch memory (workspaces, KV caches) is not counted: it
   * belongs to requests and is bounded elsewhere.
   */
  public long bytes() {
    return bytes;
  }

  /** Takes a reference unless the version is already released; false means "look again". */
  boolean tryAcquire() {
    while (true) {
      int n = refs.get();
      if (n <= 0) return false;
      if (refs.compareAndSet(n, n + 1)) return true;
    }
  }

  /** Drops a reference; the last one releases the model. */
  void release() {
    int n = refs.decrementAndGet();
    if (n == 0) {
      model = null;
      generator = null;
      onRelease.accept(this);
    } else if (n < 0) {
      throw new IllegalStateException("version " + version + " released more often than acquired");
    }
  }

  /** The registry's own reference goes: the model is freed once in-flight requests finish. */
  void retire() {
    release();
  }

  /** True once the last reference is gone and the model was dropped. */
  public boolean isReleased() {
    return refs.get() <= 0;
  }

  /** Current references (the registry's plus in-flight requests); for tests and metrics. */
  public int references() {
    return Math.max(0, refs.get());
  }

  Generator generator() {
    Generator g = generator;
    if (g == null) throw new IllegalStateException("version " + version + " was released; requests must hold a lease");
    return g;
  }

  LlamaModel model() {
    LlamaModel m = model;
    if (m == null) throw new IllegalStateException("version " + version + " was released; requests must hold a lease");
    return m;
  }

  /** Log-probs of responses; one scoring pass at a time per version (the model's workspace is shared). */
  SequenceLogProbs logProbs(List<PromptResponse> batch) {
    LlamaModel m = model();
    synchronized (this) {
      return m.logProbs(batch);
    }
  }

  @Override
  public String toString() {
    return "v" + version;
  }
}
