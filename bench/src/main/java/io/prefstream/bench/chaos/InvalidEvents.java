package io.prefstream.bench.chaos;

import io.prefstream.schemas.topic.Topics;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Properties;
import java.util.Queue;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * An app that publishes JSON events straight to prefstream.events, each one invalid in a way the
 * ingest must dead-letter (chosen equal to rejected; a timestamp a day in the future), so check 1
 * sees both sides: valid events learned exactly once, invalid ones dead-lettered and never learned.
 * An event not acknowledged (the broker restarting) is sent again with the same id. Owned by its
 * one thread.
 */
final class InvalidEvents {
  /** Ids of invalid events the broker acknowledged. */
  final Queue<String> acked = new ConcurrentLinkedQueue<>();
  private final String bootstrap;
  private final long seed;
  private volatile boolean stopping;
  private Thread thread;

  InvalidEvents(String bootstrap, long seed) {
    this.bootstrap = bootstrap;
    this.seed = seed;
  }

  void start() {
    thread = new Thread(this::run, "chaos-invalid-events");
    thread.setDaemon(true);
    thread.start();
  }

  void stopAndJoin() throws InterruptedException {
    stopping = true;
    thread.join(120_000);
  }

  private void run() {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    p.put(ProducerConfig.CLIENT_ID_CONFIG, "prefstream-chaos-invalid-events");
    SplittableRandom rnd = new SplittableRandom(seed ^ 0x5eed);
    try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer())) {
      for (long n = 1; !stopping; n++) {
        String id = "chaos-" + seed + "-invalid-" + n;
        boolean future = rnd.nextBoolean();
        String prompt = "<|bos|>User: invalid " + n + "\\nAssistant:";
        String ts = future ? Instant.now().plusSeconds(86_400).toString() : Instant.now().toString();
        String json = "{\"event_id\":\"" + id + "\",\"timestamp\":\"" + ts + "\",\"prompt\":\"" + prompt + "\","
            + "\"feedback\":{\"comparison\":{\"chosen\":\" Same.\",\"rejected\":\" " + (future ? "Other." : "Same.")
            + "\"}}}";
        byte[] value = json.getBytes(StandardCharsets.UTF_8);
        while (true) {
          try {
            producer.send(new ProducerRecord<>(Topics.EVENTS, "default/invalid-" + n, value)).get(30, TimeUnit.SECONDS);
            acked.add(id);
            break;
          } catch (Exception e) {
            if (stopping) return;
            Thread.sleep(500);
          }
        }
        Thread.sleep(1_000 + rnd.nextInt(2_000));
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
