package io.prefstream.deploy.logging;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.prefstream.serving.rollout.KafkaRolloutFeed;
import org.apache.kafka.clients.producer.internals.Sender;
import org.apache.kafka.common.utils.internals.LogContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** The filter drops only the rollout writer's producer lines, as Kafka's own LogContext writes them. */
class HandledKafkaErrorsTest {
  private final LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
  private final Logger sender = context.getLogger(Sender.class);
  private final ListAppender<ILoggingEvent> seen = new ListAppender<>();
  private final HandledKafkaErrors filter = new HandledKafkaErrors();
  private Level levelBefore;

  @BeforeEach
  void attach() {
    levelBefore = sender.getLevel();
    sender.setLevel(Level.WARN);
    seen.start();
    sender.addAppender(seen);
    filter.start();
    context.addTurboFilter(filter);
  }

  @AfterEach
  void detach() {
    context.getTurboFilterList().remove(filter);
    sender.detachAppender(seen);
    sender.setLevel(levelBefore);
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
}
