package io.prefstream.learner.metrics;

import io.prefstream.learner.trainer.StepOutcome;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.Map;
import java.util.Objects;

/**
 * The learner's Prometheus metrics, registered on a registry the caller owns (the CLI serves it at
 * {@code /metrics}). Counters get {@code _total} on exposition. All carry a {@code policy} label.
 *
 * <ul>
 *   <li>{@code prefstream_learner_steps_total}: optimiser steps applied;
 *   <li>{@code prefstream_learner_batches_total{outcome}}: input batches read, by outcome
 *       (APPLIED, EMPTY, SKIPPED_NON_FINITE_LOSS, SKIPPED_NON_FINITE_GRAD, OTHER_POLICY, UNDECODABLE,
 *       INVALID);
 *   <li>{@code prefstream_learner_skipped_batches_total}: batches skipped for a non-finite loss or gradient;
 *   <li>{@code prefstream_learner_examples_total}: examples that entered a loss;
 *   <li>{@code prefstream_learner_dropped_examples_total{reason}}: stale (DROP rule) or invalid;
 *   <li>{@code prefstream_learner_checkpoints_total}, {@code prefstream_learner_updates_published_total};
 *   <li>{@code prefstream_learner_control_commands_total{action,result}};
 *   <li>gauges {@code prefstream_learner_loss}, {@code _reward_accuracy} (last training batch),
 *       {@code _eval_reward_accuracy}, {@code _eval_reward_margin}, {@code _grad_norm}, {@code _kl},
 *       {@code _last_step_seconds}, {@code _policy_version}, {@code _paused} (1 when paused),
 *       {@code _chosen_ref_nll} (reference NLL per token of the chosen replies of the last published version).
 * </ul>
 */
public final class LearnerMetrics {
  /**
   * The collectors, registered once per registry: a learner fleet runs several policies' learners in
   * one process, each with its own {@code policy} label on the same metrics.
   */
  private record Family(Counter steps, Counter batches, Counter skipped, Counter examples, Counter dropped,
      Counter checkpoints, Counter updates, Counter control, Gauge loss, Gauge accuracy, Gauge evalAccuracy,
      Gauge evalMargin, Gauge gradNorm, Gauge kl, Gauge lastStepSeconds, Gauge version, Gauge paused, Gauge chosenRefNll) {
    static Family register(PrometheusRegistry registry) {
      return new Family(
          Counter.builder().name("prefstream_learner_steps").help("Optimiser steps applied").labelNames("policy").register(registry),
          Counter.builder().name("prefstream_learner_batches").help("Input batches read, by outcome")
              .labelNames("policy", "outcome").register(registry),
          Counter.builder().name("prefstream_learner_skipped_batches")
              .help("Batches skipped because the loss or a gradient was NaN or infinite").labelNames("policy").register(registry),
          Counter.builder().name("prefstream_learner_examples").help("Examples (pairs + thumbs) that entered a loss")
              .labelNames("policy").register(registry),
          Counter.builder().name("prefstream_learner_dropped_examples").help("Examples left out, by reason")
              .labelNames("policy", "reason").register(registry),
          Counter.builder().name("prefstream_learner_checkpoints").help("Checkpoints written").labelNames("policy").register(registry),
          Counter.builder().name("prefstream_learner_updates_published").help("PolicyUpdates published")
              .labelNames("policy").register(registry),
          Counter.builder().name("prefstream_learner_control_commands").help("Control commands read, by action and result")
              .labelNames("policy", "action", "result").register(registry),
          gauge(registry, "prefstream_learner_loss", "Loss of the last applied batch"),
          gauge(registry, "prefstream_learner_reward_accuracy", "rewards/accuracies of the last applied batch"),
          gauge(registry, "prefstream_learner_eval_reward_accuracy", "eval/rewards/accuracies at the last update"),
          gauge(registry, "prefstream_learner_eval_reward_margin", "eval/rewards/margins at the last update"),
          gauge(registry, "prefstream_learner_grad_norm", "Gradient norm (before clipping) of the last applied batch"),
          gauge(registry, "prefstream_learner_kl", "KL estimate to the reference of the last applied batch"),
          gauge(registry, "prefstream_learner_last_step_seconds", "Duration of the last step"),
          gauge(registry, "prefstream_learner_policy_version", "Version of the last checkpoint"),
          gauge(registry, "prefstream_learner_paused", "1 while paused by a control command"),
          gauge(registry, "prefstream_learner_chosen_ref_nll",
              "Reference NLL per token of the chosen replies the last published version was trained on"));
    }

    private static Gauge gauge(PrometheusRegistry registry, String name, String help) {
      return Gauge.builder().name(name).help(help).labelNames("policy").register(registry);
    }
  }

  private static final Map<PrometheusRegistry, Family> FAMILIES = new java.util.WeakHashMap<>();

  private final String policy;
  private final Counter steps;
  private final Counter batches;
  private final Counter skipped;
  private final Counter examples;
  private final Counter dropped;
  private final Counter checkpoints;
  private final Counter updates;
  private final Counter control;
  private final Gauge loss;
  private final Gauge accuracy;
  private final Gauge evalAccuracy;
  private final Gauge evalMargin;
  private final Gauge gradNorm;
  private final Gauge kl;
  private final Gauge lastStepSeconds;
  private final Gauge version;
  private final Gauge paused;
  private final Gauge chosenRefNll;

  public LearnerMetrics(PrometheusRegistry registry, String policy) {
    Objects.requireNonNull(registry, "registry");
    this.policy = Objects.requireNonNull(policy, "policy");
    Family f;
    synchronized (FAMILIES) {
      f = FAMILIES.computeIfAbsent(registry, Family::register);
    }
    steps = f.steps();
    batches = f.batches();
    skipped = f.skipped();
    examples = f.examples();
    dropped = f.dropped();
    checkpoints = f.checkpoints();
    updates = f.updates();
    control = f.control();
    loss = f.loss();
    accuracy = f.accuracy();
    evalAccuracy = f.evalAccuracy();
    evalMargin = f.evalMargin();
    gradNorm = f.gradNorm();
    kl = f.kl();
    lastStepSeconds = f.lastStepSeconds();
    version = f.version();
    paused = f.paused();
    chosenRefNll = f.chosenRefNll();
    for (String r : new String[] {"stale", "invalid"}) dropped.labelValues(policy, r);
    skipped.labelValues(policy);
    steps.labelValues(policy);
  }

  /** Records one step's outcome and its duration. */
  public void step(StepOutcome o, double seconds) {
    batches.labelValues(policy, o.status().name()).inc();
    dropped.labelValues(policy, "stale").inc(o.droppedStale());
    dropped.labelValues(policy, "invalid").inc(o.droppedInvalid());
    if (o.skippedNonFinite()) skipped.labelValues(policy).inc();
    if (!o.applied()) return;
    steps.labelValues(policy).inc();
    examples.labelValues(policy).inc(o.examples());
    lastStepSeconds.labelValues(policy).set(seconds);
    set(loss, o.metrics(), "loss");
    set(accuracy, o.metrics(), "rewards/accuracies");
    set(gradNorm, o.metrics(), "grad_norm");
    set(kl, o.metrics(), "kl");
  }

  /** A batch read but not stepped on (another policy's, or undecodable). */
  public void batchPassed(String outcome) {
    batches.labelValues(policy, outcome).inc();
  }

  public void checkpoint(long v) {
    checkpoints.labelValues(policy).inc();
    version.labelValues(policy).set(v);
  }

  public void published(Map<String, Double> metrics) {
    updates.labelValues(policy).inc();
    set(evalAccuracy, metrics, "eval/rewards/accuracies");
    set(evalMargin, metrics, "eval/rewards/margins");
    set(chosenRefNll, metrics, io.prefstream.learner.objective.MetricNames.REF_NLL_CHOSEN);
  }

  public void version(long v) {
    version.labelValues(policy).set(v);
  }

  public void paused(boolean p) {
    paused.labelValues(policy).set(p ? 1 : 0);
  }

  public void control(String action, String result) {
    control.labelValues(policy, action, result).inc();
  }

  private void set(Gauge g, Map<String, Double> m, String key) {
    Double v = m.get(key);
    if (v != null && Double.isFinite(v)) g.labelValues(policy).set(v);
  }
}
