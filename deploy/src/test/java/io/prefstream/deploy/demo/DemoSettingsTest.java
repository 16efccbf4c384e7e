package io.prefstream.deploy.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The withers change what they name and keep every other setting. */
class DemoSettingsTest {
  // Distinct values in every component, so a wither that drops or swaps one shows.
  private static final DemoSettings S = new DemoSettings(Path.of("model"), new PreferenceProfile.Polite(), 3,
      Duration.ofSeconds(70), "broker:9092", "0.0.0.0", 5001, 5002, Path.of("report"), 1e-3, 0.2, 0.7, 4, 12, 5, 0.9, 48,
      0.4, 300, Duration.ofSeconds(25), Duration.ofSeconds(3), 0.15, 0.35, 11, 2, Duration.ofSeconds(40), 0.85, 0.3);

  @Test
  void eachWitherKeepsEveryOtherSetting() {
    assertThat(S.withUsers(S.users())).isEqualTo(S);
    assertThat(S.withDuration(S.duration())).isEqualTo(S);
    assertThat(S.withPorts(S.port(), S.metricsPort())).isEqualTo(S);
    assertThat(S.withBootstrapServers(S.bootstrapServers())).isEqualTo(S);
    assertThat(S.withWindow(S.window())).isEqualTo(S);
    assertThat(S.withLearning(S.learningRate(), S.beta(), S.batchSize(), S.checkpointEverySteps())).isEqualTo(S);
    assertThat(S.withSampling(S.temperature(), S.compareShare(), S.thinkMillis())).isEqualTo(S);
    assertThat(S.withSampling(S.temperature(), S.topP())).isEqualTo(S);
    assertThat(S.withSeed(S.seed())).isEqualTo(S);
    assertThat(S.withBestOf(S.bestOf())).isEqualTo(S);
    assertThat(S.withSftAlpha(S.sftAlpha())).isEqualTo(S);
    assertThat(S.withFreezeAfter(S.freezeAfter())).isEqualTo(S);
    assertThat(S.withKtoUndesirableWeight(S.ktoUndesirableWeight())).isEqualTo(S);
  }

  @Test
  void aWitherChangesWhatItNamesAndValidatesIt() {
    DemoSettings changed = S.withPorts(6001, 6002).withSftAlpha(0);
    assertThat(changed.port()).isEqualTo(6001);
    assertThat(changed.metricsPort()).isEqualTo(6002);
    assertThat(changed.sftAlpha()).isZero();
    assertThat(changed.withPorts(S.port(), S.metricsPort()).withSftAlpha(S.sftAlpha())).isEqualTo(S);
    assertThatThrownBy(() -> S.withSftAlpha(-1)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("SFT alpha");
    DemoSettings nucleus = S.withSampling(0.7, 0.9);
    assertThat(nucleus.temperature()).isEqualTo(0.7);
    assertThat(nucleus.topP()).isEqualTo(0.9);
    assertThat(nucleus.compareShare()).isEqualTo(S.compareShare());
    assertThatThrownBy(() -> S.withSampling(1, 0)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("top-p");
    assertThat(S.withKtoUndesirableWeight(1).ktoUndesirableWeight()).isEqualTo(1.0);
    assertThat(S.withKtoUndesirableWeight(1).withKtoUndesirableWeight(S.ktoUndesirableWeight())).isEqualTo(S);
    assertThatThrownBy(() -> S.withKtoUndesirableWeight(-0.1)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("KTO undesirable weight");
    assertThatThrownBy(() -> S.withSampling(0, 1)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("temperature");
  }
}
