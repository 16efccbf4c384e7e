package io.prefstream.ingest.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.streams.StreamsConfig;

/**
 * Every setting of the ingest, in one typed record: the Kafka Streams application (id, brokers,
 * state directory, threads, commit interval, internal topics' replication), the validation limits,
 * de-duplication, pairing, hold-out and batching. The CLI builds one from flags, the environment and
 * a properties file; tests build one with {@link #builder(String, Path)}. The constructor checks each
 * value and says what was expected; {@link #streamsProperties()} turns it into Kafka Streams
 * properties, with a comment on every setting that is not Kafka's default.
 *
 * @param applicationId Kafka Streams {@code application.id}: consumer group, transactional id prefix
 *     and the prefix of internal topics; changing it starts from scratch
 * @param bootstrapServers the Kafka cluster
 * @param stateDir where RocksDB keeps the state stores (restored from their changelogs when lost)
 * @param schemaRegistryUrl a Confluent-compatible registry for Confluent-framed events, or null
 * @param maxPromptChars longest accepted prompt, in Unicode code points
 * @param maxResponseChars longest accepted response (thumb, chosen, rejected), in code points
 * @param futureSkew how far past the ingest's clock an event timestamp may lie (client clock skew)
 * @param policyIdPattern regular expression a policy id must match entirely
 * @param dedupRetention how long an event id is remembered (measured in record time)
 * @param pairingWindow how long a prompt's thumbs wait for opposite thumbs (wall-clock, from the
 *     first thumb)
 * @param maxPairsPerPrompt most pairs made from one prompt's thumbs in one window
 * @param unpairedPolicy what becomes of thumbs unpaired at window close
 * @param evalShare share of pairs held out to {@code prefstream.eval}, in [0, 1]
 * @param batchSize items (pairs + unpaired examples) that close a micro-batch
 * @param batchMaxAge age of a batch's oldest item that closes it when not full (wall clock against the
 *     item's record time, i.e. the publication of the event that completed it)
 * @param commitInterval Streams commit interval: with exactly-once, how often transactions commit,
 *     hence the latency each hop adds
 * @param streamThreads Kafka Streams threads in this instance
 * @param replicationFactor replication of internal topics (changelogs, repartitions); -1 = the
 *     broker's {@code default.replication.factor}
 * @param streamsOverrides extra Kafka Streams/client properties, applied last
 */
public record IngestConfig(
    String applicationId,
    String bootstrapServers,
    Path stateDir,
    String schemaRegistryUrl,
    int maxPromptChars,
    int maxResponseChars,
    Duration futureSkew,
    String policyIdPattern,
    Duration dedupRetention,
    Duration pairingWindow,
    int maxPairsPerPrompt,
    UnpairedPolicy unpairedPolicy,
    double evalShare,
    int batchSize,
    Duration batchMaxAge,
    Duration commitInterval,
    int streamThreads,
    int replicationFactor,
    Map<String, String> streamsOverrides) {

  public static final String DEFAULT_APPLICATION_ID = "prefstream-ingest";
  public static final int DEFAULT_MAX_PROMPT_CHARS = 8_192;
  public static final int DEFAULT_MAX_RESPONSE_CHARS = 8_192;
  public static final Duration DEFAULT_FUTURE_SKEW = Duration.ofMinutes(5);
  /** Letters, digits, {@code . _ -}; starts with a letter or digit; at most 64 characters. */
  public static final String DEFAULT_POLICY_ID_PATTERN = "[A-Za-z0-9][A-Za-z0-9._-]{0,63}";
  public static final Duration DEFAULT_DEDUP_RETENTION = Duration.ofHours(24);
  public static final Duration DEFAULT_PAIRING_WINDOW = Duration.ofSeconds(30);
  public static final int DEFAULT_MAX_PAIRS_PER_PROMPT = 16;
  public static final double DEFAULT_EVAL_SHARE = 0.05;
  public static final int DEFAULT_BATCH_SIZE = 32;
  public static final Duration DEFAULT_BATCH_MAX_AGE = Duration.ofSeconds(2);
  public static final Duration DEFAULT_COMMIT_INTERVAL = Duration.ofMillis(100);

  public IngestConfig {
    requireText(applicationId, "applicationId");
    requireText(bootstrapServers, "bootstrapServers");
    Objects.requireNonNull(stateDir, "stateDir (Kafka Streams' default lies under java.io.tmpdir, which may be wiped)");
    if (schemaRegistryUrl != null && schemaRegistryUrl.isBlank()) schemaRegistryUrl = null;
    requirePositive(maxPromptChars, "maxPromptChars");
    requirePositive(maxResponseChars, "maxResponseChars");
    requireNonNegative(futureSkew, "futureSkew");
    requireText(policyIdPattern, "policyIdPattern");
    try {
      Pattern.compile(policyIdPattern);
    } catch (PatternSyntaxException e) {
      throw new IllegalArgumentException("policyIdPattern is not a valid regular expression: " + e.getDescription()
          + " in \"" + policyIdPattern + "\"", e);
    }
    requirePositive(dedupRetention, "dedupRetention");
    requirePositive(pairingWindow, "pairingWindow");
    requirePositive(maxPairsPerPrompt, "maxPairsPerPrompt");
    Objects.requireNonNull(unpairedPolicy, "unpairedPolicy");
    if (!(evalShare >= 0.0 && evalShare <= 1.0)) {
      throw new IllegalArgumentException("evalShare must lie in [0, 1] (a share of pairs), got " + evalShare);
    }
    requirePositive(batchSize, "batchSize");
    requirePositive(batchMaxAge, "batchMaxAge");
    requirePositive(commitInterval, "commitInterval");
    requirePositive(streamThreads, "streamThreads");
    if (replicationFactor == 0 || replicationFactor < -1) {
      throw new IllegalArgumentException("replicationFactor must be -1 (broker default) or >= 1, got " + replicationFactor);
    }
    streamsOverrides = Map.copyOf(Objects.requireNonNull(streamsOverrides, "streamsOverrides"));
  }

  /** The defaults above, for this cluster and state directory. */
  public static Builder builder(String bootstrapServers, Path stateDir) {
    return new Builder(bootstrapServers, stateDir);
  }

  /** A builder holding this record's values, to change a few. */
  public Builder toBuilder() {
    return new Builder(this);
  }

  /** The compiled {@link #policyIdPattern}. */
  public Pattern policyIdRegex() {
    return Pattern.compile(policyIdPattern);
  }

  /**
   * The Kafka Streams properties of this configuration. Settings left at Kafka's defaults are not
   * listed; every one set here says why.
   */
  public Properties streamsProperties() {
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    // A restart must neither lose nor repeat a pair: reads, state changelogs and outputs commit in
    // one transaction per task (KIP-447), and downstream read_committed consumers see each once.
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    // Under exactly-once, outputs (and each repartition hop) become visible at commit, so this is
    // the latency every hop adds; 100 ms is Kafka's own exactly-once default, written down because
    // the batch age budget (p99 <= T + 500 ms) depends on it.
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, Long.toString(commitInterval.toMillis()));
    // The default lies under java.io.tmpdir, which the OS may clean while we run: set it explicitly.
    p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toAbsolutePath().toString());
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, Integer.toString(streamThreads));
    // Punctuations (batch age, window close) and commits run between polls, so an idle poll delays
    // them by up to this much; Kafka's 100 ms default would eat a fifth of the latency budget.
    p.put(StreamsConfig.POLL_MS_CONFIG, "20");
    // Changelogs and repartition topics: 1 on the single-node embedded broker, 3 on a real cluster;
    // -1 defers to the broker's default.replication.factor.
    p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, Integer.toString(replicationFactor));
    // A new application starts at the beginning of prefstream.events: events published before the
    // ingest first ran are feedback too.
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    // Batches are small and frequent; a few ms of linger lets a commit's records share requests
    // without adding visible latency next to the commit interval.
    p.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), "5");
    // We use no processing exception handler; enabling its future default now only silences
    // Kafka 4's start-up warning about it.
    p.put("processing.exception.handler.global.enabled", "true");
    streamsOverrides.forEach(p::put);
    return p;
  }

  private static void requireText(String value, String name) {
    if (value == null || value.isBlank()) throw new IllegalArgumentException(name + " must be set (non-blank)");
  }

  private static void requirePositive(int value, String name) {
    if (value <= 0) throw new IllegalArgumentException(name + " must be >= 1, got " + value);
  }

  private static void requirePositive(Duration value, String name) {
    Objects.requireNonNull(value, name);
    if (value.isNegative() || value.isZero()) {
      throw new IllegalArgumentException(name + " must be a positive duration, got " + value);
    }
  }

  private static void requireNonNegative(Duration value, String name) {
    Objects.requireNonNull(value, name);
    if (value.isNegative()) throw new IllegalArgumentException(name + " must not be negative, got " + value);
  }

  /** Mutable builder for {@link IngestConfig}, starting from the defaults. */
  public static final class Builder {
    private String applicationId = DEFAULT_APPLICATION_ID;
    private String bootstrapServers;
    private Path stateDir;
    private String schemaRegistryUrl;
    private int maxPromptChars = DEFAULT_MAX_PROMPT_CHARS;
    private int maxResponseChars = DEFAULT_MAX_RESPONSE_CHARS;
    private Duration futureSkew = DEFAULT_FUTURE_SKEW;
    private String policyIdPattern = DEFAULT_POLICY_ID_PATTERN;
    private Duration dedupRetention = DEFAULT_DEDUP_RETENTION;
    private Duration pairingWindow = DEFAULT_PAIRING_WINDOW;
    private int maxPairsPerPrompt = DEFAULT_MAX_PAIRS_PER_PROMPT;
    private UnpairedPolicy unpairedPolicy = UnpairedPolicy.KTO;
    private double evalShare = DEFAULT_EVAL_SHARE;
    private int batchSize = DEFAULT_BATCH_SIZE;
    private Duration batchMaxAge = DEFAULT_BATCH_MAX_AGE;
    private Duration commitInterval = DEFAULT_COMMIT_INTERVAL;
    private int streamThreads = 1;
    private int replicationFactor = -1;
    private Map<String, String> streamsOverrides = Map.of();

    private Builder(String bootstrapServers, Path stateDir) {
      this.bootstrapServers = bootstrapServers;
      this.stateDir = stateDir;
    }

    private Builder(IngestConfig c) {
      applicationId = c.applicationId;
      bootstrapServers = c.bootstrapServers;
      stateDir = c.stateDir;
      schemaRegistryUrl = c.schemaRegistryUrl;
      maxPromptChars = c.maxPromptChars;
      maxResponseChars = c.maxResponseChars;
      futureSkew = c.futureSkew;
      policyIdPattern = c.policyIdPattern;
      dedupRetention = c.dedupRetention;
      pairingWindow = c.pairingWindow;
      maxPairsPerPrompt = c.maxPairsPerPrompt;
      unpairedPolicy = c.unpairedPolicy;
      evalShare = c.evalShare;
      batchSize = c.batchSize;
      batchMaxAge = c.batchMaxAge;
      commitInterval = c.commitInterval;
      streamThreads = c.streamThreads;
      replicationFactor = c.replicationFactor;
      streamsOverrides = c.streamsOverrides;
    }

    public Builder applicationId(String v) { applicationId = v; return this; }
    public Builder bootstrapServers(String v) { bootstrapServers = v; return this; }
    public Builder stateDir(Path v) { stateDir = v; return this; }
    public Builder schemaRegistryUrl(String v) { schemaRegistryUrl = v; return this; }
    public Builder maxPromptChars(int v) { maxPromptChars = v; return this; }
    public Builder maxResponseChars(int v) { maxResponseChars = v; return this; }
    public Builder futureSkew(Duration v) { futureSkew = v; return this; }
    public Builder policyIdPattern(String v) { policyIdPattern = v; return this; }
    public Builder dedupRetention(Duration v) { dedupRetention = v; return this; }
    public Builder pairingWindow(Duration v) { pairingWindow = v; return this; }
    public Builder maxPairsPerPrompt(int v) { maxPairsPerPrompt = v; return this; }
    public Builder unpairedPolicy(UnpairedPolicy v) { unpairedPolicy = v; return this; }
    public Builder evalShare(double v) { evalShare = v; return this; }
    public Builder batchSize(int v) { batchSize = v; return this; }
    public Builder batchMaxAge(Duration v) { batchMaxAge = v; return this; }
    public Builder commitInterval(Duration v) { commitInterval = v; return this; }
    public Builder streamThreads(int v) { streamThreads = v; return this; }
    public Builder replicationFactor(int v) { replicationFactor = v; return this; }
    public Builder streamsOverrides(Map<String, String> v) { streamsOverrides = v; return this; }

    public IngestConfig build() {
      return new IngestConfig(applicationId, bootstrapServers, stateDir, schemaRegistryUrl, maxPromptChars,
          maxResponseChars, futureSkew, policyIdPattern, dedupRetention, pairingWindow, maxPairsPerPrompt,
          unpairedPolicy, evalShare, batchSize, batchMaxAge, commitInterval, streamThreads, replicationFactor,
          streamsOverrides);
    }
  }
}
