package io.prefstream.schemas.registry;

import java.util.Objects;
import org.apache.avro.Schema;

/** One version of a subject in the registry: its subject name, version number, global id and schema. */
public record RegisteredSchema(String subject, int version, int id, Schema schema) {
  public RegisteredSchema {
    Objects.requireNonNull(subject, "subject");
    Objects.requireNonNull(schema, "schema");
  }
}
