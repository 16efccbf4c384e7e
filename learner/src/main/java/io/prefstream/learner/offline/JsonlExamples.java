package io.prefstream.learner.offline;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.prefstream.learner.trainer.TrainingBatch;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads TRL-style JSONL training data, one example per line: a preference
 * {@code {"prompt": ..., "chosen": ..., "rejected": ...}} or an unpaired (KTO) example
 * {@code {"prompt": ..., "completion": ..., "label": true|false}}; both kinds may be mixed. Every
 * field must be a string (label a boolean); TRL's conversational format (lists of messages) is
 * refused with a message saying so. Blank lines are ignored and counted. A bad line is an error
 * naming its line number and what is wrong; with {@code skipBad} it is counted and listed instead.
 */
public final class JsonlExamples {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int MAX_LISTED_ERRORS = 20;

  /** What was read: the examples, with the line of each, and what was left out. */
  public record Result(List<TrainingBatch.Pair> pairs, List<TrainingBatch.Thumb> thumbs, int blankLines,
      List<String> badLines) {
    public int size() {
      return pairs.size() + thumbs.size();
    }
  }

  /** Thrown for bad lines when they are not skipped; the message lists them (up to 20). */
  public static final class FormatException extends IOException {
    private final List<String> lines;

    FormatException(Path file, List<String> lines, int total) {
      super(file + ": " + total + " bad line" + (total == 1 ? "" : "s") + ":\n  " + String.join("\n  ", lines)
          + (total > lines.size() ? "\n  ... and " + (total - lines.size()) + " more" : ""));
      this.lines = List.copyOf(lines);
    }

    public List<String> lines() {
      return lines;
    }
  }

  private JsonlExamples() {}

  public static Result read(Path file, boolean skipBad) throws IOException {
    List<TrainingBatch.Pair> pairs = new ArrayList<>();
    List<TrainingBatch.Thumb> thumbs = new ArrayList<>();
    List<String> bad = new ArrayList<>();
    int badTotal = 0;
    int blank = 0;
    try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String line;
      int no = 0;
      while ((line = in.readLine()) != null) {
        no++;
        if (line.isBlank()) {
          blank++;
          continue;
        }
        try {
          parse(line, pairs, thumbs);
        } catch (IllegalArgumentException e) {
          badTotal++;
          if (bad.size() < MAX_LISTED_ERRORS || skipBad) bad.add("line " + no + ": " + e.getMessage());
        }
      }
    }
    if (badTotal > 0 && !skipBad) throw new FormatException(file, bad, badTotal);
    if (pairs.isEmpty() && thumbs.isEmpty()) {
      throw new IOException(file + ": no examples (expected JSON lines with prompt/chosen/rejected or"
          + " prompt/completion/label)");
    }
    return new Result(pairs, thumbs, blank, bad);
  }

  private static void parse(String line, List<TrainingBatch.Pair> pairs, List<TrainingBatch.Thumb> thumbs) {
    JsonNode n;
    try {
      n = JSON.readTree(line);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("not valid JSON (" + e.getOriginalMessage() + ")");
    }
    if (n == null || !n.isObject()) {
      throw new IllegalArgumentException("expected a JSON object, found " + (n == null ? "nothing" : n.getNodeType()));
    }
    boolean pair = n.has("chosen") || n.has("rejected");
    if (!pair && !n.has("completion") && !n.has("label")) {
      throw new IllegalArgumentException("expected fields prompt/chosen/rejected (preference) or"
          + " prompt/completion/label (KTO), found " + fieldNames(n));
    }
    String prompt = text(n, "prompt");
    if (pair) {
      pairs.add(new TrainingBatch.Pair(prompt, text(n, "chosen"), text(n, "rejected"), null));
    } else {
      JsonNode label = n.get("label");
      if (label == null || !label.isBoolean()) {
        throw new IllegalArgumentException("'label' must be true or false, found "
            + (label == null ? "no label" : label.toString()));
      }
      thumbs.add(new TrainingBatch.Thumb(prompt, text(n, "completion"), label.asBoolean(), null));
    }
  }

  private static String text(JsonNode n, String field) {
    JsonNode v = n.get(field);
    if (v == null || v.isNull()) throw new IllegalArgumentException("missing '" + field + "'");
    if (v.isArray()) {
      throw new IllegalArgumentException("'" + field + "' is a list (TRL's conversational format), which is not"
          + " supported; expected a string");
    }
    if (!v.isTextual()) throw new IllegalArgumentException("'" + field + "' must be a string, found " + v.getNodeType());
    return v.asText();
  }

  private static List<String> fieldNames(JsonNode n) {
    List<String> names = new ArrayList<>();
    n.fieldNames().forEachRemaining(names::add);
    return names;
  }
}
