package io.prefstream.schemas.serde;

/**
 * How the bytes of one message are encoded. The ingest tells them apart by the first byte:
 * {@code 0x00} is the Confluent wire format (magic 0, 4-byte schema id, Avro binary), {@code 0xC3 0x01}
 * is Avro single-object encoding (8-byte CRC-64-AVRO fingerprint, Avro binary), and {@code '{'} (after
 * optional whitespace or a UTF-8 byte-order mark) is JSON. {@link #UNKNOWN} is used in errors when the
 * first byte matches none of them.
 */
public enum Encoding {
  CONFLUENT,
  SINGLE_OBJECT,
  JSON,
  UNKNOWN
}
