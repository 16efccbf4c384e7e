package io.prefstream.serving.metrics;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/**
 * The serving replica's Prometheus metrics, registered in one {@link PrometheusRegistry} (which the
 * {@code serve} command exposes at {@code /metrics}). Names start with {@code prefstream_serving_}.
 */
public final class ServingMetrics {
  private final PrometheusRegistry registry;
  public final Counter requests;
  public final Histogram requestSeconds;
  public final Counter tokensGenerated;
  public final Gauge inFlight;
  public final Counter rejected;
  public final Counter versionsLoaded;
  public final Counter versionsRefused;
  public final Counter versionsReleased;
  public final Histogram loadSeconds;
  public final Counter loadRetries;
  public final Counter versionsUnavailable;
  public final Counter rolloutProposals;
  public final Counter swaps;
  public final Gauge servingVersion;
  public final Gauge residentVersions;
  public final Gauge residentBytes;
  public final Counter evictions;
  public final Counter firstUseLoads;
  public final Histogram updateToServingSeconds;
  public final Counter feedbackPublished;
  public final Counter servedReplyRefNats;
  public final Counter servedReplyRefTokens;
  public final Counter servedReplySamples;
  public final Counter servedReplySamplesDropped;
  public final Gauge servedReplyRefNll;

  public ServingMetrics(PrometheusRegistry registry) {
    this.registry = registry;
    requests = Counter.builder().name("prefstream_serving_requests_total")
        .help("RPCs answered, by method and gRPC status code").labelNames("method", "code").register(registry);
    requestSeconds = Histogram.builder().name("prefstream_serving_request_seconds")
        .help("RPC latency from arrival to the last message, by method").labelNames("method")
        .classicUpperBounds(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
        .register(registry);
    tokensGenerated = Counter.builder().name("prefstream_serving_tokens_generated_total")
        .help("Tokens generated, by policy").labelNames("policy").register(registry);
    inFlight = Gauge.builder().name("prefstream_serving_in_flight")
        .help("Generation and scoring requests running now").register(registry);
    rejected = Counter.builder().name("prefstream_serving_rejected_total")
        .help("Requests refused with RESOURCE_EXHAUSTED because the concurrency limit was reached").register(registry);
    versionsLoaded = Counter.builder().name("prefstream_serving_versions_loaded_total")
        .help("Policy versions loaded and verified").labelNames("policy").register(registry);
    versionsRefused = Counter.builder().name("prefstream_serving_versions_refused_total")
        .help("Policy versions refused at load (bad manifest or hash, format, shape, non-finite values)").labelNames("policy")
        .register(registry);
    versionsReleased = Counter.builder().name("prefstream_serving_versions_released_total")
        .help("Policy versions whose memory was released after their last request").labelNames("policy").register(registry);
    loadSeconds = Histogram.builder().name("prefstream_serving_version_load_seconds")
        .help("Time to load and verify one policy version").classicOnly()
        .classicUpperBounds(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60).register(registry);
    loadRetries = Counter.builder().name("prefstream_serving_version_load_retries_total")
        .help("Version loads that failed with a transient read error (checkpoint not yet visible, I/O) and were retried")
        .labelNames("policy").register(registry);
    versionsUnavailable = Counter.builder().name("prefstream_serving_versions_unavailable_total")
        .help("Versions still unreadable after every retry (not refused: a desired state naming one tries again)")
        .labelNames("policy").register(registry);
    rolloutProposals = Counter.builder().name("prefstream_serving_rollout_proposals_total")
        .help("Rollout states this replica proposed, by author (OPERATOR|AUTOMATION) and outcome (accepted, stale:"
            + " based on an older revision and not written, failed: the feed did not take it)")
        .labelNames("policy", "author", "outcome").register(registry);
    swaps = Counter.builder().name("prefstream_serving_swaps_total")
        .help("Atomic routing changes (stable or canary version replaced)").labelNames("policy").register(registry);
    servingVersion = Gauge.builder().name("prefstream_serving_version")
        .help("Version served to non-canary traffic (role=stable) and to canary traffic (role=canary)")
        .labelNames("policy", "role").register(registry);
    residentVersions = Gauge.builder().name("prefstream_serving_resident_versions")
        .help("Policy version copies in memory, the base included, until their last reference (routing, reference"
            + " cache, request) goes").register(registry);
    residentBytes = Gauge.builder().name("prefstream_serving_resident_bytes")
        .help("Bytes held by policy version copies beyond the base weights (adapters, full-weight versions, reference"
            + " snapshots), counted against --resident-budget").register(registry);
    evictions = Counter.builder().name("prefstream_serving_evictions_total")
        .help("Times a policy's version copies were dropped to keep within --resident-budget (least recently used first);"
            + " its rollout state stays and its next request loads it again").labelNames("policy").register(registry);
    firstUseLoads = Counter.builder().name("prefstream_serving_first_use_loads_total")
        .help("Versions loaded on a request's thread because the policy was not resident (never used, or evicted)")
        .labelNames("policy").register(registry);
    updateToServingSeconds = Histogram.builder().name("prefstream_serving_update_to_serving_seconds")
        .help("From a PolicyUpdate's created_at to this replica serving it").classicOnly()
        .classicUpperBounds(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30).register(registry);
    feedbackPublished = Counter.builder().name("prefstream_serving_feedback_published_total")
        .help("Preference events published to prefstream.events").labelNames("policy").register(registry);
    servedReplyRefNats = Counter.builder().name("prefstream_serving_served_reply_ref_nats_total")
        .help("Negative log-likelihood under the pinned reference (nats, summed over tokens) of the served replies"
            + " sampled by --fluency-sample-rate; over ..._ref_tokens_total it is the reference NLL per token")
        .labelNames("policy").register(registry);
    servedReplyRefTokens = Counter.builder().name("prefstream_serving_served_reply_ref_tokens_total")
        .help("Tokens of the sampled served replies scored under the pinned reference").labelNames("policy")
        .register(registry);
    servedReplySamples = Counter.builder().name("prefstream_serving_served_reply_samples_total")
        .help("Served replies scored under the pinned reference (a --fluency-sample-rate share)").labelNames("policy")
        .register(registry);
    servedReplySamplesDropped = Counter.builder().name("prefstream_serving_served_reply_samples_dropped_total")
        .help("Sampled served replies not scored (the scoring queue was full, or the reference was gone)")
        .labelNames("policy").register(registry);
    servedReplyRefNll = Gauge.builder().name("prefstream_serving_served_reply_ref_nll")
        .help("Reference NLL per token of the last 64 sampled served replies").labelNames("policy").register(registry);
  }

  /** What the batching engine reports; the latest server's engine is the one read. */
  public interface EngineGauges {
    int running();

    int waiting();

    long reservedKvBytes();

    long steps();

    long rowsStepped();

    long stalled();

    /** Nanoseconds spent inside steps. */
    long stepNanos();

    /** Sequences that started from a cached prefix. */
    long prefixHits();

    /** Prompt tokens not prefilled thanks to the prefix cache. */
    long prefixTokensReused();

    /** Bytes of KV cache the prefix cache holds. */
    long prefixCacheBytes();

    /** Sequences that got a retired sequence's KV buffers instead of new ones. */
    long kvCachesReused();

    /** Bytes of spare KV caches kept for new sequences. */
    long spareKvBytes();
  }

  private final java.util.concurrent.atomic.AtomicReference<EngineGauges> engine = new java.util.concurrent.atomic.AtomicReference<>();

  /** Exposes the engine's running/waiting sequences, KV bytes held, steps and rows stepped. */
  public void watchEngine(EngineGauges gauges) {
    if (engine.getAndSet(gauges) != null) return; // callbacks already registered; they read the latest engine
    io.prometheus.metrics.core.metrics.GaugeWithCallback.builder().name("prefstream_serving_engine_sequences")
        .help("Sequences in the batching engine, running (state=running) or waiting for a place (state=waiting)")
        .labelNames("state").callback(cb -> {
          cb.call(engine.get().running(), "running");
          cb.call(engine.get().waiting(), "waiting");
        }).register(registry);
    io.prometheus.metrics.core.metrics.GaugeWithCallback.builder().name("prefstream_serving_engine_kv_cache_bytes")
        .help("KV-cache bytes reserved by running sequences (bounded by --kv-cache-mib)")
        .callback(cb -> cb.call(engine.get().reservedKvBytes())).register(registry);
    io.prometheus.metrics.core.metrics.CounterWithCallback.builder().name("prefstream_serving_engine_steps")
        .help("Batched decode steps run").callback(cb -> cb.call(engine.get().steps())).register(registry);
    io.prometheus.metrics.core.metrics.CounterWithCallback.builder().name("prefstream_serving_engine_rows")
        .help("Token rows carried by all steps (rows / steps = mean batch size)")
        .callback(cb -> cb.call(engine.get().rowsStepped())).register(registry);
    io.prometheus.metrics.core.metrics.CounterWithCallback.builder().name("prefstream_serving_engine_stalled_streams")
        .help("Generations stopped because their stream's reader left tokens unread past --stream-stall-timeout")
        .callback(cb -> cb.call(engine.get().stalled())).register(registry);
    io.prometheus.metrics.core.metrics.CounterWithCallback.builder().name("prefstream_serving_engine_step_seconds")
        .help("Time spent in batched steps (its rate over wall time is how busy the engine is; over steps, the step time)")
        .callback(cb -> cb.call(engine.get().stepNanos() / 1e9)).register(registry);
    io.prometheus.metrics.core.metrics.CounterWithCallback.builder().name("prefstream_serving_engine_prefix_hits")
        .help("Sequences that started from a cached prefix of an earlier request's KV cache")
        .callback(cb -> cb.call(engine.get().prefixHits())).register(registry);
    io.prometheus.metrics.core.metrics.CounterWithCallback.builder().name("prefstream_serving_engine_prefix_tokens_reused")
        .help("Prompt tokens not prefilled because the prefix cache held them")
        .callback(cb -> cb.call(engine.get().prefixTokensReused())).register(registry);
    io.prometheus.metrics.core.metrics.GaugeWithCallback.builder().name("prefstream_serving_engine_prefix_cache_bytes")
        .help("KV-cache bytes kept by the prefix cache (bounded by --prefix-cache-mib)")
        .callback(cb -> cb.call(engine.get().prefixCacheBytes())).register(registry);
    io.prometheus.metrics.core.metrics.CounterWithCallback.builder().name("prefstream_serving_engine_kv_caches_reused")
        .help("Sequences whose KV cache reused a retired sequence's buffers instead of allocating new ones")
        .callback(cb -> cb.call(engine.get().kvCachesReused())).register(registry);
    io.prometheus.metrics.core.metrics.GaugeWithCallback.builder().name("prefstream_serving_engine_spare_kv_cache_bytes")
        .help("Bytes of retired sequences' KV caches kept for new sequences (at most --kv-cache-mib)")
        .callback(cb -> cb.call(engine.get().spareKvBytes())).register(registry);
  }

  public PrometheusRegistry registry() {
    return registry;
  }
}
