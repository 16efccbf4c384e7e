package io.prefstream.model.policy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prefstream.model.io.ModelFormatException;
import java.io.IOException;
import java.util.Iterator;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * {@code trainer_state.json}: where the learner was when it wrote a checkpoint. The consumer
 * offsets live here, inside the checkpoint, so that restoring the weights and seeking the input
 * are one atomic fact: each micro-batch changes the weights exactly once across crashes.
 *
 * @param step          optimiser steps applied so far
 * @param examplesSeen  training examples (pairs + unpaired) consumed so far
 * @param offsets       next offset to read per {@code topic-partition} (e.g. {@code prefstream.batches-0})
 * @param referenceId   identity of the pinned reference snapshot these weights were trained against
 * @param parentVersion the version this one was trained from, or null for the first
 * @param format        {@code LORA} or {@code FULL}
 * @param metrics       the last metrics under TRL's names
 */
public record TrainerState(long step, long examplesSeen, Map<String, Long> offsets, String referenceId,
    Long parentVersion, String format, Map<String, Double> metrics) {
  public static final String FILE = "trainer_state.json";
  private static final ObjectMapper JSON = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();

  public TrainerState {
    if (step < 0) throw new IllegalArgumentException("step must be >= 0, got " + step);
    if (examplesSeen < 0) throw new IllegalArgumentException("examplesSeen must be >= 0, got " + examplesSeen);
    Objects.requireNonNull(referenceId, "referenceId");
    if (!PolicyCheckpoint.LORA.equals(format) && !PolicyCheckpoint.FULL.equals(format)) {
      throw new IllegalArgumentException("format must be LORA or FULL, got " + format);
    }
    offsets = Map.copyOf(new TreeMap<>(offsets));
    metrics = Map.copyOf(new TreeMap<>(metrics));
  }

  public byte[] toJson() {
    ObjectNode n = JSON.createObjectNode();
    n.put("step", step);
    n.put("examples_seen", examplesSeen);
    ObjectNode o = n.putObject("offsets");
    new TreeMap<>(offsets).forEach(o::put);
    n.put("reference_id", referenceId);
    if (parentVersion == null) n.putNull("parent_version"); else n.put("parent_version", parentVersion);
    n.put("format", format);
    ObjectNode m = n.putObject("metrics");
    new TreeMap<>(metrics).forEach((k, v) -> {
      if (Double.isFinite(v)) m.put(k, v); else m.put(k, Double.toString(v));
    });
    try {
      return JSON.writeValueAsBytes(n);
    } catch (IOException e) {
      throw new IllegalStateException("cannot serialise trainer state", e);
    }
  }

  public static TrainerState fromJson(byte[] bytes, String where) throws ModelFormatException {
    JsonNode n;
    try {
      n = JSON.readTree(bytes);
    } catch (IOException e) {
      throw new ModelFormatException(where + ": not valid JSON: " + e.getMessage());
    }
    if (n == null || !n.isObject()) throw new ModelFormatException(where + ": expected a JSON object");
    try {
      Map<String, Long> offsets = new TreeMap<>();
      JsonNode o = required(n, "offsets", where);
      for (Iterator<Map.Entry<String, JsonNode>> it = o.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        if (!e.getValue().canConvertToLong()) throw new ModelFormatException(where + ": offsets." + e.getKey() + " is not an integer");
        offsets.put(e.getKey(), e.getValue().asLong());
      }
      Map<String, Double> metrics = new TreeMap<>();
      JsonNode m = n.get("metrics");
      if (m != null && m.isObject()) {
        for (Iterator<Map.Entry<String, JsonNode>> it = m.fields(); it.hasNext(); ) {
          Map.Entry<String, JsonNode> e = it.next();
          metrics.put(e.getKey(), e.getValue().isNumber() ? e.getValue().asDouble() : Double.parseDouble(e.getValue().asText()));
        }
      }
      JsonNode parent = n.get("parent_version");
      return new TrainerState(required(n, "step", where).asLong(), required(n, "examples_seen", where).asLong(), offsets,
          required(n, "reference_id", where).asText(), parent == null || parent.isNull() ? null : parent.asLong(),
          required(n, "format", where).asText(), metrics);
    } catch (IllegalArgumentException e) {
      throw new ModelFormatException(where + ": " + e.getMessage());
    }
  }

  private static JsonNode required(JsonNode n, String field, String where) throws ModelFormatException {
    JsonNode v = n.get(field);
    if (v == null || v.isNull()) throw new ModelFormatException(where + ": missing field '" + field + "'");
    return v;
  }
}
