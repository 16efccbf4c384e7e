package io.prefstream.serving.registry;

import io.prefstream.model.llama.LlamaModel;

import io.prefstream.model.generate.GenerationResult;
import io.prefstream.model.generate.SamplingParams;
import io.prefstream.model.generate.TokenListener;
import io.prefstream.model.generate.TokenText;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.llama.SequenceLogProbs;
import java.util.List;

/**
 * A request's hold on the one policy version it runs on, from start to finish: a swap that happens
 * meanwhile routes later requests elsewhere but cannot take this version away. Close it exactly
 * once when the request ends (try-with-resources).
 */
public final class Lease implements AutoCloseable {
  private final String policyId;
  private final LoadedPolicy version;
  private final boolean canary;
  private final Runnable onClose;
  private boolean closed;

  /** @param onClose run once after the version is given back (the registry's resident budget listens) */
  Lease(String policyId, LoadedPolicy version, boolean canary, Runnable onClose) {
    this.policyId = policyId;
    this.version = version;
    this.canary = canary;
    this.onClose = onClose;
  }

  public String policyId() {
    return policyId;
  }

  public long version() {
    return version.version();
  }

  public String referenceId() {
    return version.referenceId();
  }

  /** Whether the router sent this request to the canary version. */
  public boolean canary() {
    return canary;
  }

  /** Generates with this version (see {@link io.prefstream.model.generate.Generator#generate}). */
  public GenerationResult generate(int[] prompt, SamplingParams params, TokenText text, TokenListener listener) {
    return version.generator().generate(prompt, params, text, listener);
  }

  /** Log-probs of each (prompt, response) under this version. */
  public SequenceLogProbs logProbs(List<PromptResponse> batch) {
    return version.logProbs(batch);
  }

  /** This version's model (base weights shared with its siblings, plus its adapter), for the batching engine. */
  public LlamaModel model() {
    return version.model();
  }

  LoadedPolicy loaded() {
    return version;
  }

  @Override
  public void close() {
    synchronized (this) {
      if (closed) return;
      closed = true;
    }
    version.release();
    onClose.run();
  }
}
