package io.prefstream.deploy.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.schemas.topic.Topics;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.config.ConfigResource;
import org.junit.jupiter.api.Test;

/**
 * A three-node in-process KRaft cluster: the project's topics are created with three replicas and
 * min.insync.replicas 2, and acks=all writes go on after the active controller (also a broker) is
 * stopped; the stopped node rejoins on its data directory.
 */
class EmbeddedKafkaClusterTest {

  @Test
  void topicsAreReplicatedThreeTimesAndWritesSurviveLosingTheActiveController() throws Exception {
    try (EmbeddedKafkaCluster cluster = EmbeddedKafkaCluster.start(3)) {
      cluster.ensureTopics(cluster.defaultTopics());
      try (Admin admin = Admin.create(cluster.clientConfig())) {
        TopicDescription d = admin.describeTopics(List.of(Topics.BATCHES)).allTopicNames().get(30, TimeUnit.SECONDS)
            .get(Topics.BATCHES);
        assertThat(d.partitions()).allSatisfy(p -> assertThat(p.replicas()).hasSize(3));
        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, Topics.BATCHES);
        Config c = admin.describeConfigs(List.of(r)).all().get(30, TimeUnit.SECONDS).get(r);
        assertThat(c.get("min.insync.replicas").value()).isEqualTo("2");
      }

      Map<String, String> before = records("a", 20);
      RoundTrip.produce(cluster.bootstrapServers(), Topics.BATCHES, before);
      int controller = cluster.activeController();
      cluster.stopNode(controller);
      assertThat(cluster.runningNodes()).hasSize(2).doesNotContain(controller);
      assertThat(cluster.activeController()).isNotEqualTo(controller);

      Map<String, String> after = records("b", 20);
      RoundTrip.produce(cluster.bootstrapServers(), Topics.BATCHES, after);
      assertThat(RoundTrip.consume(cluster.bootstrapServers(), Topics.BATCHES, 40)).hasSize(40);

      cluster.restartNode(controller);
      assertThat(cluster.runningNodes()).hasSize(3);
    }
  }

  private static Map<String, String> records(String prefix, int n) {
    Map<String, String> m = new LinkedHashMap<>();
    for (int i = 0; i < n; i++) m.put(prefix + i, "v" + i);
    return m;
  }
}
