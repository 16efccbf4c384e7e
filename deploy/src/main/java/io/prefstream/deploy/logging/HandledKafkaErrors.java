package io.prefstream.deploy.logging;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.turbo.TurboFilter;
import ch.qos.logback.core.spi.FilterReply;
import io.prefstream.serving.rollout.KafkaRolloutFeed;
import org.slf4j.Marker;

/**
 * Drops the Kafka producer's own WARN/ERROR lines about the rollout writer's transactions. That
 * writer shares one transactional id across replicas on purpose (fencing is its compare-and-set), so
 * "producer fenced" and the fatal INVALID_TXN_STATE of a commit that raced an abort (KAFKA-20785)
 * are part of its protocol: it reads again and retries, and says so itself (at debug, or a warning
 * by io.prefstream when something else went wrong). Every other producer's lines pass untouched.
 * Set {@code PREFSTREAM_LIBRARY_LOG_LEVEL=debug} to see them anyway: this filter then steps aside.
 */
public final class HandledKafkaErrors extends TurboFilter {
  private static final String PRODUCER_INTERNALS = "org.apache.kafka.clients.producer.internals.";
  /** Kafka's LogContext puts this prefix in front of every line of that producer. */
  private static final String WRITER_PREFIX = "transactionalId=" + KafkaRolloutFeed.WRITER_TRANSACTIONAL_ID + "]";

  @Override
  public FilterReply decide(Marker marker, Logger logger, Level level, String format, Object[] params, Throwable t) {
    if (level == null || format == null || !level.isGreaterOrEqual(Level.WARN)) return FilterReply.NEUTRAL;
    if (!logger.getName().startsWith(PRODUCER_INTERNALS) || !format.contains(WRITER_PREFIX)) return FilterReply.NEUTRAL;
    // Asked for library detail: show everything.
    if (logger.getEffectiveLevel().toInt() < Level.WARN.toInt()) return FilterReply.NEUTRAL;
    return FilterReply.DENY;
  }
}
