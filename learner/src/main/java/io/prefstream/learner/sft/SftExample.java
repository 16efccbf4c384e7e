package io.prefstream.learner.sft;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.prefstream.learner.offline.JsonlExamples;
import io.prefstream.model.text.Content;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One supervised example in TRL's prompt-completion layout: the model learns {@code completion}
 * given {@code prompt} (loss on the completion only, as TRL's default {@code completion_only_loss}).
 * Read from JSON Lines: {@code {"prompt": …, "completion": …}} with strings (standard format) or
 * message lists (conversational), or {@code {"messages": [...]}} whose last turn, an assistant's, is
 * the completion. Fields are read by {@link JsonlExamples#content}, the same rule as train and score;
 * other fields are ignored, blank lines skipped; a bad line is refused with its line number.
 */
public record SftExample(Content prompt, Content completion) {
  private static final ObjectMapper JSON = new ObjectMapper();

  public SftExample {
    if (prompt.getClass() != completion.getClass()) {
      throw new IllegalArgumentException("prompt and completion mix text and lists of messages; use one format");
    }
    if (completion instanceof Content.Text t && t.text().isBlank()) throw new IllegalArgumentException("completion is empty");
  }

  /** Standard format: texts as they stand. */
  public SftExample(String prompt, String completion) {
    this(Content.text(prompt), Content.text(completion));
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
    if (out.isEmpty()) {
      throw new IOException(file + ": no examples; expected JSON lines like {\"prompt\": …, \"completion\": …} or"
          + " {\"messages\": [...]}");
    }
    return out;
  }

  public static SftExample parse(String line, String where) throws IOException {
    JsonNode n;
    try {
      n = JSON.readTree(line);
    } catch (IOException e) {
      throw new IOException(where + ": not valid JSON (" + e.getMessage().lines().findFirst().orElse("") + ")", e);
    }
    if (n == null || !n.isObject()) {
      throw new IOException(where + ": expected a JSON object with \"prompt\" and \"completion\", or \"messages\"");
    }
    try {
      if (n.has("messages") && !n.has("completion")) {
        Content.Messages all = (Content.Messages) requireMessages(JsonlExamples.content(n, "messages"));
        int last = all.messages().size() - 1;
        if (last < 1 || !"assistant".equals(all.messages().get(last).role())) {
          throw new IllegalArgumentException("'messages' must end with an assistant turn after at least one other turn");
        }
        return new SftExample(Content.messages(all.messages().subList(0, last)),
            Content.messages(all.messages().subList(last, last + 1)));
      }
      if (!n.has("completion")) {
        throw new IllegalArgumentException("field \"completion\" is missing (TRL's prompt-completion format)");
      }
      return new SftExample(JsonlExamples.content(n, "prompt"), JsonlExamples.content(n, "completion"));
    } catch (IllegalArgumentException e) {
      throw new IOException(where + ": " + e.getMessage(), e);
    }
  }

  private static Content requireMessages(Content c) {
    if (!(c instanceof Content.Messages)) throw new IllegalArgumentException("'messages' must be a list of messages");
    return c;
  }
}
