package io.prefstream.learner.sft;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One supervised example: a user message and the reply the model should learn to give. Read from
 * JSON Lines, one object per line with string fields {@code prompt} and {@code response} (other
 * fields are ignored, blank lines skipped); a bad line is refused with its line number.
 */
public record SftExample(String prompt, String response) {
  private static final ObjectMapper JSON = new ObjectMapper();

  public SftExample {
    if (prompt == null || prompt.isBlank()) throw new IllegalArgumentException("prompt is empty");
    if (response == null || response.isBlank()) throw new IllegalArgumentException("response is empty");
  }

  /** Every example of a JSONL file; at least one is required. */
  public static List<SftExample> readJsonl(Path file) throws IOException {
    List<SftExample> out = new ArrayList<>();
    try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String line;
      int no = 0;
      while ((line = r.readLine()) != null) {
        no++;
        if (line.isBlank()) continue;
        out.add(parse(line, file + ":" + no));
      }
    }
    if (out.isEmpty()) throw new IOException(file + ": no examples; expected JSON lines like {\"prompt\": \"…\", \"response\": \"…\"}");
    return out;
  }

  static SftExample parse(String line, String where) throws IOException {
    JsonNode n;
    try {
      n = JSON.readTree(line);
    } catch (IOException e) {
      throw new IOException(where + ": not valid JSON (" + e.getMessage().lines().findFirst().orElse("") + ")", e);
    }
    if (n == null || !n.isObject()) throw new IOException(where + ": expected a JSON object with \"prompt\" and \"response\"");
    String prompt = text(n, "prompt", where);
    String response = text(n, "response", where);
    try {
      return new SftExample(prompt, response);
    } catch (IllegalArgumentException e) {
      throw new IOException(where + ": " + e.getMessage(), e);
    }
  }

  private static String text(JsonNode n, String field, String where) throws IOException {
    JsonNode v = n.get(field);
    if (v == null || !v.isTextual()) throw new IOException(where + ": field \"" + field + "\" is missing or not a string");
    return v.asText();
  }
}
