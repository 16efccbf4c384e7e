package io.prefstream.deploy.demo;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.DataPointSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;

/**
 * Reads the demo's own Prometheus registry (the one /metrics serves) for the live view and the
 * report, so they show the same numbers an operator would scrape.
 */
final class MetricsReader {
  private final PrometheusRegistry registry;

  MetricsReader(PrometheusRegistry registry) {
    this.registry = registry;
  }

  /** A point-in-time snapshot to read several values from. */
  Snapshot snapshot() {
    return new Snapshot(registry.scrape());
  }

  record Snapshot(MetricSnapshots snapshots) {
    /**
     * The sum over the data points of counter or gauge {@code name} (a counter without its
     * {@code _total}) whose label {@code label} is {@code value} (null: all); NaN when absent.
     */
    double value(String name, String label, String value) {
      for (MetricSnapshot s : snapshots) {
        if (!s.getMetadata().getName().equals(name)) continue;
        double sum = 0;
        boolean any = false;
        for (DataPointSnapshot dp : s.getDataPoints()) {
          if (label != null && !value.equals(dp.getLabels().get(label))) continue;
          double v = switch (dp) {
            case CounterSnapshot.CounterDataPointSnapshot c -> c.getValue();
            case GaugeSnapshot.GaugeDataPointSnapshot g -> g.getValue();
            default -> Double.NaN;
          };
          sum += v;
          any = true;
        }
        return any ? sum : Double.NaN;
      }
      return Double.NaN;
    }

    double value(String name) {
      return value(name, null, null);
    }

    long count(String name) {
      double v = value(name);
      return Double.isNaN(v) ? 0 : (long) v;
    }
  }
}
