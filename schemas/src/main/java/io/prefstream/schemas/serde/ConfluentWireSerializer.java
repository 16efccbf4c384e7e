package io.prefstream.schemas.serde;

import io.prefstream.schemas.registry.RegistryException;
import io.prefstream.schemas.registry.SchemaRegistryClient;
import java.io.ByteArrayOutputStream;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.avro.specific.SpecificRecord;

/**
 * Writes records in the Confluent wire format: magic byte 0, the schema's registry id as a 4-byte
 * big-endian int, then the Avro binary body. The schema is registered (or, with auto-registration off,
 * looked up) under the subject {@code <topic>-value} once per topic and the id cached. Registry
 * failures surface as {@link SerializationException} carrying the {@link RegistryException}.
 */
public final class ConfluentWireSerializer<T extends SpecificRecord> implements Serializer<T> {
  private final SchemaRegistryClient registry;
  private final SingleObjectCodec<T> codec;
  private final boolean autoRegister;
  private final Map<String, Integer> idsBySubject = new ConcurrentHashMap<>();

  public ConfluentWireSerializer(SchemaRegistryClient registry, Class<T> type, boolean autoRegister) {
    this.registry = Objects.requireNonNull(registry, "registry");
    this.codec = new SingleObjectCodec<>(type);
    this.autoRegister = autoRegister;
  }

  /** Auto-registering serializer. */
  public ConfluentWireSerializer(SchemaRegistryClient registry, Class<T> type) {
    this(registry, type, true);
  }

  /** The registry subject for a topic's values (Confluent's TopicNameStrategy). */
  public static String subjectFor(String topic) {
    return topic + "-value";
  }

  /** The schema id used for {@code topic}, registering or looking it up on first use. */
  public int schemaId(String topic) {
    String subject = subjectFor(Objects.requireNonNull(topic, "topic"));
    return idsBySubject.computeIfAbsent(subject, s -> {
      try {
        if (autoRegister) return registry.register(s, codec.schema());
        return registry.lookup(s, codec.schema())
            .orElseThrow(() -> new SerializationException("the " + codec.schema().getFullName()
                + " schema is not registered under subject " + s + " at " + registry.config().baseUrl()
                + "; expected it registered there, or a serializer with auto-registration on"))
            .id();
      } catch (RegistryException e) {
        throw new SerializationException("cannot get a schema id for subject " + s + ": " + e.getMessage(), e);
      }
    });
  }

  @Override
  public byte[] serialize(String topic, T data) {
    if (data == null) return null;
    int id = schemaId(topic);
    ByteArrayOutputStream out = new ByteArrayOutputStream(256);
    out.write(0);
    out.write(id >>> 24);
    out.write(id >>> 16);
    out.write(id >>> 8);
    out.write(id);
    codec.writeBody(data, out);
    return out.toByteArray();
  }
}
