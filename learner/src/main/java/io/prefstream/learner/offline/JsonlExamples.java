package io.prefstream.learner.offline;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.prefstream.learner.trainer.TrainingBatch;
import io.prefstream.model.text.ChatMessage;
import io.prefstream.model.text.Content;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The one reader of TRL-style JSONL data (train, score and sft read through it), one example per
 * line: a preference {@code {"prompt": ..., "chosen": ..., "rejected": ...}} or an unpaired (KTO)
 * example {@code {"prompt": ..., "completion": ..., "label": true|false}}; both kinds may be mixed.
 * Each text field is either a string (TRL's standard format) or a list of
 * {@code {"role": ..., "content": ...}} messages (its conversational format, rendered later with the
 * model's chat template); a line uses one format for all its fields. As in TRL, a preference line
 * without "prompt" takes as prompt the longest common start of two conversations (whole turns).
 * Blank lines are ignored and counted. A bad line is an error naming its line number and what is
 * wrong; with {@code skipBad} it is counted and listed instead.
 */
public final class JsonlExamples {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int MAX_LISTED_ERRORS = 20;

  /** What was read: the examples, with the line of each, and what was left out. */
  public record Result(List<TrainingBatch.Pair> pairs, List<Integer> pairLines, List<TrainingBatch.Thumb> thumbs,
      int blankLines, List<String> badLines) {
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
    List<Integer> pairLines = new ArrayList<>();
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
          while (pairLines.size() < pairs.size()) pairLines.add(no);
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
    return new Result(pairs, pairLines, thumbs, blank, bad);
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
    if (pair) {
      Content chosen = content(n, "chosen");
      Content rejected = content(n, "rejected");
      if (!n.has("prompt") && chosen instanceof Content.Messages c && rejected instanceof Content.Messages r) {
        int common = 0;
        while (common < Math.min(c.messages().size(), r.messages().size()) - 1
            && c.messages().get(common).equals(r.messages().get(common))) {
          common++;
        }
        if (common == 0) throw new IllegalArgumentException("missing 'prompt', and chosen and rejected share no first turn");
        pairs.add(new TrainingBatch.Pair(Content.messages(c.messages().subList(0, common)),
            Content.messages(c.messages().subList(common, c.messages().size())),
            Content.messages(r.messages().subList(common, r.messages().size())), null));
        return;
      }
      Content prompt = content(n, "prompt");
      sameFormat(prompt, chosen, rejected);
      pairs.add(new TrainingBatch.Pair(prompt, chosen, rejected, null));
    } else {
      JsonNode label = n.get("label");
      if (label == null || !label.isBoolean()) {
        throw new IllegalArgumentException("'label' must be true or false, found "
            + (label == null ? "no label" : label.toString()));
      }
      Content prompt = content(n, "prompt");
      Content completion = content(n, "completion");
      sameFormat(prompt, completion);
      thumbs.add(new TrainingBatch.Thumb(prompt, completion, label.asBoolean(), null));
    }
  }

  private static void sameFormat(Content first, Content... others) {
    for (Content o : others) {
      if (o.getClass() != first.getClass()) {
        throw new IllegalArgumentException("mixes text and lists of messages; use one format for every field of a line"
            + " (TRL's standard or conversational)");
      }
    }
  }

  /**
   * A field as TRL holds it: a string, or a list of {@code {"role", "content"}} messages (content a
   * string). Errors name the field and what was found.
   */
  public static Content content(JsonNode n, String field) {
    JsonNode v = n.get(field);
    if (v == null || v.isNull()) throw new IllegalArgumentException("missing '" + field + "'");
    if (v.isTextual()) return Content.text(v.asText());
    if (!v.isArray()) {
      throw new IllegalArgumentException("'" + field + "' must be a string or a list of messages, found " + v.getNodeType());
    }
    if (v.isEmpty()) throw new IllegalArgumentException("'" + field + "' is an empty list of messages");
    List<ChatMessage> messages = new ArrayList<>();
    for (int i = 0; i < v.size(); i++) {
      JsonNode m = v.get(i);
      String where = "'" + field + "'[" + i + "]";
      if (!m.isObject()) throw new IllegalArgumentException(where + " must be an object with role and content");
      JsonNode role = m.get("role");
      JsonNode c = m.get("content");
      if (role == null || !role.isTextual() || role.asText().isBlank()) {
        throw new IllegalArgumentException(where + ": 'role' missing or not a string");
      }
      if (c == null || !c.isTextual()) {
        throw new IllegalArgumentException(where + ": 'content' missing or not a string (lists of content parts,"
            + " as multimodal data has, are not supported)");
      }
      messages.add(new ChatMessage(role.asText(), c.asText()));
    }
    return Content.messages(messages);
  }

  private static List<String> fieldNames(JsonNode n) {
    List<String> names = new ArrayList<>();
    n.fieldNames().forEachRemaining(names::add);
    return names;
  }
}
