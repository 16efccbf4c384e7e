package io.prefstream.schemas.serde;

import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.registry.SchemaRegistryClient;
import java.util.Map;
import java.util.Objects;
import org.apache.kafka.common.serialization.Deserializer;

/**
 * Kafka deserializer for the events topic: any of the three encodings, through
 * {@link PreferenceEventDecoder}. Bad bytes throw {@link DecodeException} (a Kafka
 * {@code SerializationException}); a null value (a tombstone) stays null, as Kafka expects. Built with
 * a decoder, or with no arguments and configured from {@value #REGISTRY_URL_CONFIG} (optional).
 */
public final class PreferenceEventDeserializer implements Deserializer<PreferenceEvent> {
  /** The usual Confluent property naming the registry's base URL. */
  public static final String REGISTRY_URL_CONFIG = "schema.registry.url";

  private PreferenceEventDecoder decoder;
  private final boolean configurable;
  private SchemaRegistryClient ownedRegistry;

  /** For Kafka's reflective construction; {@link #configure} sets the registry, else none is used. */
  public PreferenceEventDeserializer() {
    this.decoder = new PreferenceEventDecoder();
    this.configurable = true;
  }

  /** Uses {@code decoder} as it is; {@link #configure} changes nothing. */
  public PreferenceEventDeserializer(PreferenceEventDecoder decoder) {
    this.decoder = Objects.requireNonNull(decoder, "decoder");
    this.configurable = false;
  }

  @Override
  public void configure(Map<String, ?> configs, boolean isKey) {
    Object url = configs.get(REGISTRY_URL_CONFIG);
    if (configurable && url != null && !url.toString().isBlank() && ownedRegistry == null) {
      ownedRegistry = SchemaRegistryClient.create(url.toString().strip());
      decoder = new PreferenceEventDecoder(ownedRegistry);
    }
  }

  @Override
  public PreferenceEvent deserialize(String topic, byte[] data) {
    return data == null ? null : decoder.decode(data);
  }

  @Override
  public void close() {
    if (ownedRegistry != null) ownedRegistry.close();
  }
}
