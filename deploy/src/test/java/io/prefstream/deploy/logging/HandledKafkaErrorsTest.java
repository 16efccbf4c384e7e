package io.prefstream.deploy.logging;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.prefstream.serving.rollout.KafkaRolloutFeed;
import kafka.server.ReplicaManager;
import org.apache.kafka.clients.producer.internals.Sender;
import org.apache.kafka.common.errors.InvalidTxnStateException;
import org.apache.kafka.common.errors.OutOfOrderSequenceException;
import org.apache.kafka.common.utils.internals.LogContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * The filter drops only the rollout writer's producer lines, as Kafka's own LogContext writes them,
 * and the broker's refused-append lines that carry a protocol error (the client's to handle).
 */
class HandledKafkaErrorsTest {
  private final LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
  private final Logger sender = context.getLogger(Sender.class);
  private final Logger broker = context.getLogger(ReplicaManager.class);
  private final ListAppender<ILoggingEvent> seen = new ListAppender<>();
  private final HandledKafkaErrors filter = new HandledKafkaErrors();
  private Level levelBefore;

  @BeforeEach
  void attach() {
    levelBefore = sender.getLevel();
    sender.setLevel(Level.WARN);
    broker.setLevel(Level.WARN);
    seen.start();
    sender.addAppender(seen);
    broker.addAppender(seen);
    filter.start();
    context.addTurboFilter(filter);
  }

  @AfterEach
  void detach() {
    context.getTurboFilterList().remove(filter);
    sender.detachAppender(seen);
    broker.detachAppender(seen);
    sender.setLevel(levelBefore);
    broker.setLevel(null);
  }

  private static org.slf4j.Logger producerLog(String transactionalId) {
    return new LogContext("[Producer clientId=c, transactionalId=" + transactionalId + "] ").logger(Sender.class);
  }

  @Test
  void dropsTheRolloutWritersFatalErrorLine() {
    producerLog(KafkaRolloutFeed.WRITER_TRANSACTIONAL_ID).error("Aborting producer batches due to fatal error", new RuntimeException("x"));
    assertThat(seen.list).isEmpty();
  }

  @Test
  void keepsEveryOtherProducersLines() {
    producerLog("prefstream-learner-0").error("Aborting producer batches due to fatal error", new RuntimeException("x"));
    assertThat(seen.list).singleElement().extracting(ILoggingEvent::getFormattedMessage).asString()
        .contains("transactionalId=prefstream-learner-0", "fatal error");
  }

  @Test
  void stepsAsideWhenLibraryDetailIsAskedFor() {
    sender.setLevel(Level.DEBUG);
    producerLog(KafkaRolloutFeed.WRITER_TRANSACTIONAL_ID).error("Aborting producer batches due to fatal error");
    assertThat(seen.list).hasSize(1);
  }

  /** As Kafka's ReplicaManager writes it: its log ident, the partition, the throwable. */
  private static void refusedAppend(Throwable why) {
    LoggerFactory.getLogger(ReplicaManager.class).error(
        "[ReplicaManager broker=1] Error processing append operation on partition Xy:app-repartition-1", why);
  }

  @Test
  void dropsTheBrokersLineForAnAppendItRefusedWithAProtocolError() {
    assertThat(ReplicaManager.class.getName()).isEqualTo(HandledKafkaErrors.REPLICA_MANAGER);
    refusedAppend(new InvalidTxnStateException("Record was not part of an ongoing transaction"));
    refusedAppend(new OutOfOrderSequenceException("Out of order sequence number for producer 7"));
    assertThat(seen.list).isEmpty();
  }

  @Test
  void keepsTheBrokersLineWhenTheAppendFailedForAnyOtherReason() {
    refusedAppend(new IllegalStateException("a broker fault"));
    LoggerFactory.getLogger(ReplicaManager.class).error("[ReplicaManager broker=1] Error while reading log dir",
        new InvalidTxnStateException("x"));
    assertThat(seen.list).extracting(ILoggingEvent::getFormattedMessage)
        .containsExactly("[ReplicaManager broker=1] Error processing append operation on partition Xy:app-repartition-1",
            "[ReplicaManager broker=1] Error while reading log dir");
  }

  @Test
  void showsRefusedAppendsWhenLibraryDetailIsAskedFor() {
    broker.setLevel(Level.DEBUG);
    refusedAppend(new OutOfOrderSequenceException("x"));
    assertThat(seen.list).hasSize(1);
  }
}
