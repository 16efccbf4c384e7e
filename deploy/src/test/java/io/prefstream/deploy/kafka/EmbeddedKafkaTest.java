package io.prefstream.deploy.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.prefstream.schemas.topic.TopicSpec;
import io.prefstream.schemas.topic.Topics;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.config.ConfigResource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmbeddedKafkaTest {
  private static EmbeddedKafka kafka;

  @BeforeAll
  static void startBroker() {
    kafka = EmbeddedKafka.start();
  }

  @AfterAll
  static void stopBroker() {
    if (kafka != null) kafka.close();
  }

  @Test
  void producesAndConsumesThroughTheBroker() throws Exception {
    kafka.ensureTopics(List.of(new TopicSpec("roundtrip", 1, (short) 1, Map.of())));

    RoundTrip.produce(kafka.bootstrapServers(), "roundtrip", Map.of("k1", "v1"));
    RoundTrip.produce(kafka.bootstrapServers(), "roundtrip", Map.of("k2", "ünïcødé ✓"));

    List<ConsumerRecord<String, String>> records = RoundTrip.consume(kafka.bootstrapServers(), "roundtrip", 2);
    assertThat(records).extracting(ConsumerRecord::key).containsExactly("k1", "k2");
    assertThat(records).extracting(ConsumerRecord::value).containsExactly("v1", "ünïcødé ✓");
  }

  @Test
  void transactionsCommitOnASingleNode() throws Exception {
    // Exactly-once Streams (the ingest) needs the transaction log, which Kafka creates with RF 3 unless told.
    kafka.ensureTopics(List.of(new TopicSpec("tx", 1, (short) 1, Map.of())));
    Map<String, Object> producerConfig = Map.of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ProducerConfig.TRANSACTIONAL_ID_CONFIG, "embedded-kafka-test",
        ProducerConfig.MAX_BLOCK_MS_CONFIG, 30_000);
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerConfig, new StringSerializer(), new StringSerializer())) {
      producer.initTransactions();
      producer.beginTransaction();
      producer.send(new ProducerRecord<>("tx", 0, "k", "committed"));
      producer.commitTransaction();
    }
    Map<String, Object> consumerConfig = Map.of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(consumerConfig, new StringDeserializer(), new StringDeserializer())) {
      TopicPartition partition = new TopicPartition("tx", 0);
      consumer.assign(List.of(partition));
      consumer.seekToBeginning(List.of(partition));
      List<String> values = new java.util.ArrayList<>();
      await().atMost(Duration.ofSeconds(30)).until(() -> {
        consumer.poll(Duration.ofMillis(200)).forEach(r -> values.add(r.value()));
        return !values.isEmpty();
      });
      assertThat(values).containsExactly("committed");
    }
  }

  @Test
  void bootstrapAddressIsTheLoopbackHostAndTheChosenPort() {
    assertThat(kafka.port()).isPositive();
    assertThat(kafka.bootstrapServers()).isEqualTo("127.0.0.1:" + kafka.port());
  }

  @Test
  void ensureTopicsIsIdempotentAndAppliesTheTopicSettings() throws Exception {
    List<String> firstCall = kafka.ensureDefaultTopics();
    List<String> secondCall = kafka.ensureDefaultTopics();

    List<String> names = Topics.all((short) 1).stream().map(TopicSpec::name).toList();
    // Another test may have run first on this shared broker; the union is what must hold.
    assertThat(secondCall).isEmpty();
    try (Admin admin = Admin.create(kafka.clientConfig())) {
      assertThat(admin.listTopics().names().get(30, TimeUnit.SECONDS)).containsAll(names);
      Map<String, TopicDescription> described = admin.describeTopics(names).allTopicNames().get(30, TimeUnit.SECONDS);
      for (TopicSpec spec : Topics.all((short) 1)) {
        assertThat(described.get(spec.name()).partitions()).as(spec.name()).hasSize(spec.partitions());
      }
      ConfigResource rollout = new ConfigResource(ConfigResource.Type.TOPIC, Topics.ROLLOUT);
      Config config = admin.describeConfigs(List.of(rollout)).all().get(30, TimeUnit.SECONDS).get(rollout);
      assertThat(config.get("cleanup.policy").value()).isEqualTo("compact");
      ConfigResource events = new ConfigResource(ConfigResource.Type.TOPIC, Topics.EVENTS);
      Config eventsConfig = admin.describeConfigs(List.of(events)).all().get(30, TimeUnit.SECONDS).get(events);
      assertThat(eventsConfig.get("retention.ms").value()).isEqualTo(Long.toString(7L * 24 * 60 * 60 * 1000));
    }
    assertThat(firstCall).isSubsetOf(names);
  }

  @Test
  void twoBrokersInOneJvmWorkIndependently() throws Exception {
    try (EmbeddedKafka second = EmbeddedKafka.start()) {
      assertThat(second.port()).isNotEqualTo(kafka.port());
      TopicSpec onlyOnSecond = new TopicSpec("only-on-second", 1, (short) 1, Map.of());
      assertThat(second.ensureTopics(List.of(onlyOnSecond))).containsExactly("only-on-second");
      kafka.ensureTopics(List.of(new TopicSpec("on-first", 1, (short) 1, Map.of())));

      RoundTrip.produce(second.bootstrapServers(), "only-on-second", Map.of("a", "second"));
      RoundTrip.produce(kafka.bootstrapServers(), "on-first", Map.of("b", "first"));

      assertThat(RoundTrip.consume(second.bootstrapServers(), "only-on-second", 1))
          .extracting(ConsumerRecord::value).containsExactly("second");
      assertThat(RoundTrip.consume(kafka.bootstrapServers(), "on-first", 1))
          .extracting(ConsumerRecord::value).containsExactly("first");
      try (Admin firstAdmin = Admin.create(kafka.clientConfig())) {
        assertThat(firstAdmin.listTopics().names().get(30, TimeUnit.SECONDS)).doesNotContain("only-on-second");
      }
    }
    // The first broker is unaffected by the second one's shutdown.
    assertThat(RoundTrip.consume(kafka.bootstrapServers(), "on-first", 1)).hasSize(1);
  }

  @Test
  void restartOnTheSameDataDirKeepsTopicsAndRecordsAndReleasesThePort(@TempDir Path dir) throws Exception {
    Path dataDir = dir.resolve("kafka");
    int port;
    try (EmbeddedKafka first = EmbeddedKafka.start(EmbeddedKafka.Options.defaults().withDataDir(dataDir))) {
      port = first.port();
      first.ensureTopics(List.of(new TopicSpec("durable", 1, (short) 1, Map.of())));
      RoundTrip.produce(first.bootstrapServers(), "durable", Map.of("key", "kept across restarts"));
    }
    assertThat(dataDir.resolve("meta.properties")).exists();
    // A clean close gives the port back: a plain socket can bind it now.
    assertThat(canBind(port)).as("port %d free after close", port).isTrue();

    try (EmbeddedKafka second = EmbeddedKafka.start(EmbeddedKafka.Options.defaults().withDataDir(dataDir).withPort(port))) {
      assertThat(second.bootstrapServers()).isEqualTo("127.0.0.1:" + port);
      assertThat(second.ensureTopics(List.of(new TopicSpec("durable", 1, (short) 1, Map.of())))).isEmpty();
      assertThat(RoundTrip.consume(second.bootstrapServers(), "durable", 1))
          .extracting(ConsumerRecord::value).containsExactly("kept across restarts");
    }
    assertThat(dataDir).exists();
  }

  @Test
  void closeStopsTheBrokersThreadsAndDeletesItsTemporaryDataDir() throws Exception {
    Set<Thread> before = Thread.getAllStackTraces().keySet();
    Path dataDir;
    try (EmbeddedKafka temporary = EmbeddedKafka.start()) {
      dataDir = temporary.dataDir();
      assertThat(dataDir.resolve("meta.properties")).exists();
      RoundTrip.produce(temporary.bootstrapServers(), "t", Map.of("k", "v"));
    }
    assertThat(dataDir).doesNotExist();
    // Kafka's Yammer metrics keep two JVM-wide daemon tick threads once any broker has run; the
    // condition itself runs on awaitility's thread.
    await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
        assertThat(Thread.getAllStackTraces().keySet())
            .filteredOn(t -> !before.contains(t) && t.isAlive() && t != Thread.currentThread())
            .filteredOn(t -> !(t.isDaemon() && t.getName().startsWith("metrics-meter-tick-thread")))
            .extracting(Thread::getName)
            .isEmpty());
  }

  @Test
  void refusesADataDirThatHoldsSomethingElse(@TempDir Path dir) throws IOException {
    Files.writeString(dir.resolve("notes.txt"), "not kafka");

    assertThatThrownBy(() -> EmbeddedKafka.start(EmbeddedKafka.Options.defaults().withDataDir(dir)))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("neither empty nor a Kafka data directory");
    assertThat(dir.resolve("notes.txt")).exists();
  }

  @Test
  void optionsRejectAnOutOfRangePort() {
    assertThatThrownBy(() -> EmbeddedKafka.Options.defaults().withPort(70_000))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("port must be 0");
  }

  @Test
  void aFixedPortInUseIsReportedBeforeKafkaStarts() throws IOException {
    try (ServerSocket taken = new ServerSocket()) {
      taken.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0));

      assertThatThrownBy(() -> EmbeddedKafka.start(EmbeddedKafka.Options.defaults().withPort(taken.getLocalPort())))
          .isInstanceOf(IllegalStateException.class)
          .hasMessage("port " + taken.getLocalPort() + " on 127.0.0.1 is in use (another broker?); choose another"
              + " port, or 0 for any free one");
    }
  }

  private static boolean canBind(int port) {
    try (ServerSocket socket = new ServerSocket()) {
      socket.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
      return true;
    } catch (IOException e) {
      return false;
    }
  }
}
