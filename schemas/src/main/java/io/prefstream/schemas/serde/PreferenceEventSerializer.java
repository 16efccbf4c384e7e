package io.prefstream.schemas.serde;

import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.registry.SchemaRegistryClient;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Kafka serializer for events in any of the three encodings: single-object by default (what the
 * Feedback RPC and the demo publish), JSON, or the Confluent wire format (needs a registry). With the
 * no-argument constructor it is configured from {@value #ENCODING_CONFIG} ({@code single_object},
 * {@code json}, {@code confluent}) and {@value PreferenceEventDeserializer#REGISTRY_URL_CONFIG}.
 */
public final class PreferenceEventSerializer implements Serializer<PreferenceEvent> {
  public static final String ENCODING_CONFIG = "prefstream.event.encoding";

  private Encoding encoding;
  private SchemaRegistryClient registry;
  private boolean ownsRegistry;
  private final SingleObjectCodec<PreferenceEvent> singleObject = new SingleObjectCodec<>(PreferenceEvent.class);
  private ConfluentWireSerializer<PreferenceEvent> confluent;

  /** Single-object encoding unless {@link #configure} says otherwise. */
  public PreferenceEventSerializer() {
    this(Encoding.SINGLE_OBJECT, null);
  }

  /** A serializer for {@link Encoding#SINGLE_OBJECT} or {@link Encoding#JSON}. */
  public PreferenceEventSerializer(Encoding encoding) {
    this(encoding, null);
  }

  /** A serializer for any encoding; {@code registry} is required for {@link Encoding#CONFLUENT}. */
  public PreferenceEventSerializer(Encoding encoding, SchemaRegistryClient registry) {
    setUp(encoding, registry);
  }

  private void setUp(Encoding enc, SchemaRegistryClient reg) {
    Objects.requireNonNull(enc, "encoding");
    if (enc == Encoding.UNKNOWN) throw new IllegalArgumentException("encoding must be CONFLUENT, SINGLE_OBJECT or JSON");
    if (enc == Encoding.CONFLUENT && reg == null) {
      throw new IllegalArgumentException("the Confluent wire format needs a schema registry; got none");
    }
    this.encoding = enc;
    this.registry = reg;
    this.confluent = enc == Encoding.CONFLUENT ? new ConfluentWireSerializer<>(reg, PreferenceEvent.class) : null;
  }

  public Encoding encoding() {
    return encoding;
  }

  @Override
  public void configure(Map<String, ?> configs, boolean isKey) {
    Object enc = configs.get(ENCODING_CONFIG);
    Object url = configs.get(PreferenceEventDeserializer.REGISTRY_URL_CONFIG);
    SchemaRegistryClient reg = registry;
    if (reg == null && url != null && !url.toString().isBlank()) {
      reg = SchemaRegistryClient.create(url.toString().strip());
      ownsRegistry = true;
    }
    Encoding chosen = encoding;
    if (enc != null) {
      try {
        chosen = Encoding.valueOf(enc.toString().strip().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(
            ENCODING_CONFIG + " is '" + enc + "'; expected single_object, json or confluent", e);
      }
    }
    setUp(chosen, reg);
  }

  @Override
  public byte[] serialize(String topic, PreferenceEvent data) {
    if (data == null) return null;
    return switch (encoding) {
      case SINGLE_OBJECT -> singleObject.encode(data);
      case JSON -> PreferenceEventJson.write(data);
      case CONFLUENT -> confluent.serialize(topic, data);
      case UNKNOWN -> throw new IllegalStateException("no encoding chosen");
    };
  }

  @Override
  public void close() {
    if (ownsRegistry && registry != null) registry.close();
  }
}
