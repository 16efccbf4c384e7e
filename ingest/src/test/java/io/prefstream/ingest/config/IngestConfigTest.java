package io.prefstream.ingest.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.apache.kafka.streams.StreamsConfig;
import org.junit.jupiter.api.Test;

class IngestConfigTest {
  private static IngestConfig.Builder defaults() {
    return IngestConfig.builder("localhost:9092", Path.of("state"));
  }

  @Test
  void streamsPropertiesAreExactlyOnceWithAnExplicitStateDirAndOverridesLast() {
    IngestConfig c = defaults().commitInterval(Duration.ofMillis(250)).replicationFactor(3)
        .streamsOverrides(Map.of(StreamsConfig.NUM_STREAM_THREADS_CONFIG, "4")).build();
    var p = c.streamsProperties();
    assertThat(p.getProperty(StreamsConfig.PROCESSING_GUARANTEE_CONFIG)).isEqualTo("exactly_once_v2");
    assertThat(p.getProperty(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG)).isEqualTo("250");
    assertThat(p.getProperty(StreamsConfig.STATE_DIR_CONFIG)).isEqualTo(Path.of("state").toAbsolutePath().toString());
    assertThat(p.getProperty(StreamsConfig.REPLICATION_FACTOR_CONFIG)).isEqualTo("3");
    assertThat(p.getProperty(StreamsConfig.NUM_STREAM_THREADS_CONFIG)).isEqualTo("4");
    assertThat(p.getProperty(StreamsConfig.APPLICATION_ID_CONFIG)).isEqualTo("prefstream-ingest");
  }

  @Test
  void defaultsAreTheDocumentedOnes() {
    IngestConfig c = defaults().build();
    assertThat(c.batchSize()).isEqualTo(32);
    assertThat(c.batchMaxAge()).isEqualTo(Duration.ofSeconds(2));
    assertThat(c.evalShare()).isEqualTo(0.05);
    assertThat(c.unpairedPolicy()).isEqualTo(UnpairedPolicy.KTO);
    assertThat(c.replicationFactor()).isEqualTo(-1);
  }

  @Test
  void badValuesAreRefusedSayingWhatWasExpected() {
    assertThatThrownBy(() -> defaults().evalShare(1.5).build()).hasMessageContaining("evalShare must lie in [0, 1]");
    assertThatThrownBy(() -> defaults().batchSize(0).build()).hasMessageContaining("batchSize must be >= 1, got 0");
    assertThatThrownBy(() -> defaults().batchMaxAge(Duration.ZERO).build()).hasMessageContaining("positive duration");
    assertThatThrownBy(() -> defaults().policyIdPattern("[a-").build()).hasMessageContaining("not a valid regular expression");
    assertThatThrownBy(() -> defaults().replicationFactor(0).build()).hasMessageContaining("-1 (broker default) or >= 1");
    assertThatThrownBy(() -> IngestConfig.builder(" ", Path.of("s")).build()).hasMessageContaining("bootstrapServers must be set");
    assertThatThrownBy(() -> IngestConfig.builder("b:1", null).build()).hasMessageContaining("java.io.tmpdir");
  }

  @Test
  void aBlankRegistryUrlMeansNone() {
    assertThat(defaults().schemaRegistryUrl("  ").build().schemaRegistryUrl()).isNull();
  }
}
