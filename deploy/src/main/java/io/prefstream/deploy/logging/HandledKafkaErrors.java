package io.prefstream.deploy.logging;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.turbo.TurboFilter;
import ch.qos.logback.core.spi.FilterReply;
import io.prefstream.serving.rollout.KafkaRolloutFeed;
import org.apache.kafka.common.errors.ApiException;
import org.slf4j.Marker;

/**
 * Drops two kinds of Kafka ERROR/WARN lines whose errors are handled by the side that receives them,
 * and says nothing else:
 * <ul>
 *   <li>The Kafka producer's own lines about the rollout writer's transactions. That writer shares
 *       one transactional id across replicas on purpose (fencing is its compare-and-set), so
 *       "producer fenced" and the fatal INVALID_TXN_STATE of a commit that raced an abort
 *       (KAFKA-20785) are part of its protocol: it reads again and retries, and says so itself (at
 *       debug, or a warning by io.prefstream when something else went wrong). Every other
 *       producer's lines pass untouched.
 *   <li>The embedded broker's "Error processing append operation on partition" when the append was
 *       refused with a protocol error ({@link ApiException}: an out-of-order sequence, a record no
 *       longer part of an ongoing transaction when a transaction-v2 commit or abort raced it). The
 *       broker sends that error to the producer, which retries or aborts and replays the
 *       transaction (Kafka Streams under exactly-once does); the broker's line is a second copy of
 *       an error the client has and handles, and a client that cannot handle it logs its own
 *       error. Any other throwable there (a broker fault, not a refusal) still prints.
 * </ul>
 * Set {@code PREFSTREAM_LIBRARY_LOG_LEVEL=debug} to see them anyway: this filter then steps aside.
 */
public final class HandledKafkaErrors extends TurboFilter {
  private static final String PRODUCER_INTERNALS = "org.apache.kafka.clients.producer.internals.";
  /** Kafka's LogContext puts this prefix in front of every line of that producer. */
  private static final String WRITER_PREFIX = "transactionalId=" + KafkaRolloutFeed.WRITER_TRANSACTIONAL_ID + "]";
  /** The broker's logger for produce appends (a Scala class in kafka_2.13). */
  static final String REPLICA_MANAGER = "kafka.server.ReplicaManager";
  static final String REFUSED_APPEND = "Error processing append operation on partition";

  @Override
  public FilterReply decide(Marker marker, Logger logger, Level level, String format, Object[] params, Throwable t) {
    if (level == null || format == null || !level.isGreaterOrEqual(Level.WARN)) return FilterReply.NEUTRAL;
    if (!rolloutWriterLine(logger, format) && !refusedAppend(logger, format, t)) return FilterReply.NEUTRAL;
    // Asked for library detail: show everything.
    if (logger.getEffectiveLevel().toInt() < Level.WARN.toInt()) return FilterReply.NEUTRAL;
    return FilterReply.DENY;
  }

  private static boolean rolloutWriterLine(Logger logger, String format) {
    return logger.getName().startsWith(PRODUCER_INTERNALS) && format.contains(WRITER_PREFIX);
  }

  private static boolean refusedAppend(Logger logger, String format, Throwable t) {
    return logger.getName().equals(REPLICA_MANAGER) && format.contains(REFUSED_APPEND) && t instanceof ApiException;
  }
}
