package io.prefstream.schemas.serde;

import io.prefstream.schemas.avro.DeadLetterReason;

/**
 * Why a message could not be decoded. Every value except {@link #REGISTRY_UNAVAILABLE} is a property
 * of the bytes themselves (retrying will not help, so the message belongs in the dead-letter topic);
 * a registry outage is an infrastructure fault the caller should retry or stop on.
 */
public enum DecodeFailure {
  /** Null or zero-length input. */
  EMPTY,
  /** The bytes end before the message does. */
  TRUNCATED,
  /** The first byte(s) are not one of the known headers. */
  BAD_MAGIC,
  /** The Confluent schema id is not known to the registry, or no registry is configured. */
  UNKNOWN_SCHEMA,
  /** The single-object fingerprint matches none of the schemas this build knows. */
  UNKNOWN_FINGERPRINT,
  /** The writer schema cannot be read with the current reader schema. */
  SCHEMA_INCOMPATIBLE,
  /** The Avro body is not valid for its writer schema (bad lengths, indexes, trailing bytes). */
  MALFORMED,
  /** The JSON text does not parse, or is not an object. */
  INVALID_JSON,
  /** A required field is absent or null. */
  MISSING_FIELD,
  /** A field is present but has the wrong type or an unacceptable value. */
  INVALID_FIELD,
  /** The schema registry could not be reached or kept failing after retries. */
  REGISTRY_UNAVAILABLE;

  /** True when the input itself is at fault, so it should go to the dead-letter topic. */
  public boolean isDataError() {
    return this != REGISTRY_UNAVAILABLE;
  }

  /** The dead-letter reason code for this failure. */
  public DeadLetterReason toDeadLetterReason() {
    return switch (this) {
      case MISSING_FIELD -> DeadLetterReason.MISSING_FIELD;
      case UNKNOWN_SCHEMA, UNKNOWN_FINGERPRINT, SCHEMA_INCOMPATIBLE -> DeadLetterReason.UNKNOWN_SCHEMA;
      case EMPTY, TRUNCATED, BAD_MAGIC, MALFORMED, INVALID_JSON, INVALID_FIELD -> DeadLetterReason.UNPARSEABLE;
      case REGISTRY_UNAVAILABLE -> DeadLetterReason.OTHER;
    };
  }
}
