package io.prefstream.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Guards schema evolution: a change to any {@code .avsc} changes its fingerprint, and producers still
 * on the old schema then need the old version in {@code avro-history/} to be readable. This test makes
 * that step impossible to forget.
 */
class SchemaFingerprintTest {
  @Test
  void currentSchemasMatchTheRecordedFingerprints() throws IOException {
    String actual = KnownSchemas.RECORD_TYPES.stream()
        .map(KnownSchemas::current)
        .map(s -> s.getFullName() + " " + String.format("%016x", KnownSchemas.fingerprint(s)))
        .sorted()
        .collect(Collectors.joining("\n"));
    String recorded;
    try (InputStream in = getClass().getClassLoader().getResourceAsStream("schema-fingerprints.txt")) {
      recorded = Arrays.stream(new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n"))
          .map(String::strip)
          .filter(l -> !l.isEmpty() && !l.startsWith("#"))
          .sorted()
          .collect(Collectors.joining("\n"));
    }
    assertThat(actual)
        .as("""
            A schema in src/main/avro changed. If the old version was ever released, copy it to \
            src/main/resources/avro-history/<Name>-v<N>.avsc and list it in index.txt so old producers' \
            events stay readable; then put these lines in src/test/resources/schema-fingerprints.txt:
            %s
            """, actual)
        .isEqualTo(recorded);
  }
}
