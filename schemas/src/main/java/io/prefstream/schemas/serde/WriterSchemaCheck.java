package io.prefstream.schemas.serde;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaCompatibility.Incompatibility;
import org.apache.avro.SchemaCompatibility.SchemaIncompatibilityType;

/**
 * Decides whether data written with a writer schema can be read with a reader schema, and if not says
 * why in words that name the field ({@code feedback.Thumb.rating}), where Avro's
 * {@link SchemaCompatibility} gives JSON pointers ({@code /fields/6/type/0}) and, for a union branch,
 * only that the branch does not match. Besides Avro's rules it refuses writer schemas with an array
 * whose items can take zero bytes ({@code array<null>}): {@link BoundedBinaryDecoder} bounds every
 * item count by the bytes left, which such an array would break. Tested through
 * {@code ConfluentSchemaEvolutionTest} and {@code WriterSchemaCheckTest}.
 */
final class WriterSchemaCheck {
  private WriterSchemaCheck() {}

  /** Nested union branches are explained this deep at most (schemas can be recursive). */
  private static final int MAX_DEPTH = 8;

  /** Why {@code writer} data cannot be read as {@code reader}, one entry per problem; empty when it can. */
  static List<String> problems(Schema reader, Schema writer) {
    List<String> out = new ArrayList<>();
    explain(reader, writer, "", 0, out);
    String zeroWidth = zeroWidthArray(writer, "", new HashSet<>());
    if (zeroWidth != null) {
      out.add(at(zeroWidth) + "an array whose items can be zero bytes long, which cannot be bounded by the message size");
    }
    return out;
  }

  private static void explain(Schema reader, Schema writer, String prefix, int depth, List<String> out) {
    var result = SchemaCompatibility.checkReaderWriterCompatibility(reader, writer).getResult();
    for (Incompatibility i : result.getIncompatibilities()) {
      try {
        explainOne(i, reader, writer, prefix, depth, out);
      } catch (RuntimeException e) {
        // Only the wording failed (a schema shape the walk did not foresee): the verdict stands, in Avro's words.
        out.add(avrosWords(i));
      }
    }
  }

  private static String avrosWords(Incompatibility i) {
    return i.getType().name().toLowerCase(Locale.ROOT).replace('_', ' ') + ": " + i.getMessage() + " at " + i.getLocation();
  }

  private static void explainOne(Incompatibility i, Schema reader, Schema writer, String prefix, int depth, List<String> out) {
    Step at = walk(reader, writer, i.getLocation(), prefix);
    if (at == null) {
      out.add(avrosWords(i));
      return;
    }
    if (i.getType() == SchemaIncompatibilityType.MISSING_UNION_BRANCH && depth < MAX_DEPTH
        && at.writer() != null && isNamed(at.writer())) {
      // The writer's record, enum or fixed has a reader branch of the same name that cannot read it: say why.
      Schema readerBranch = sameBranch(at.reader(), at.writer());
      if (readerBranch != null) {
        // A writer union's record branch is already in the path; a writer record read into a reader union is not.
        boolean addName = at.reader().getType() == Schema.Type.UNION && readerBranch.getType() == Schema.Type.RECORD;
        String path = addName ? join(at.path(), readerBranch.getName()) : at.path();
        int before = out.size();
        explain(readerBranch, at.writer(), path, depth + 1, out);
        if (out.size() > before) return;
      }
    }
    out.add(at(at.path()) + phrase(i, at));
  }

  private static String phrase(Incompatibility i, Step at) {
    return switch (i.getType()) {
      case READER_FIELD_MISSING_DEFAULT_VALUE -> "not in the writer schema, and the reader has no default for it";
      case MISSING_ENUM_SYMBOLS -> "the writer's enum symbols " + i.getMessage() + " are not in the reader's enum "
          + (at.writer() == null ? "" : at.writer().getName() + " ") + "(which has no default)";
      case MISSING_UNION_BRANCH -> at.writer() == null ? i.getMessage()
          : at.reader().getType() == Schema.Type.UNION
              ? "the reader's union " + at.reader().getTypes().stream().map(WriterSchemaCheck::shortName).toList()
                  + " has no branch for the writer's " + describe(at.writer())
              : "the reader's " + describe(at.reader()) + " cannot read the writer's " + describe(at.writer());
      default -> i.getMessage();
    };
  }

  private static String describe(Schema s) {
    return switch (s.getType()) {
      case RECORD, ENUM, FIXED -> s.getType().getName() + " " + s.getFullName();
      default -> s.getType().getName();
    };
  }

  private static String shortName(Schema s) {
    return switch (s.getType()) {
      case RECORD, ENUM, FIXED -> s.getName();
      default -> s.getType().getName();
    };
  }

  private static boolean isNamed(Schema s) {
    return s.getType() == Schema.Type.RECORD || s.getType() == Schema.Type.ENUM || s.getType() == Schema.Type.FIXED;
  }

  /** Where a problem is, for the message. */
  private static String at(String path) {
    return path.isEmpty() ? "the record itself: " : "field " + path + ": ";
  }

  private static String join(String path, String part) {
    return path.isEmpty() ? part : path + "." + part;
  }

  /** The reader and writer schemas at a pointer of {@link SchemaCompatibility} (writer null where it lacks the field), and the field path. */
  private record Step(Schema reader, Schema writer, String path) {}

  /**
   * Follows {@code location} (record fields by the reader's position, union branches by the writer's
   * index) down both schemas; null when the pointer has a shape this does not know.
   */
  private static Step walk(Schema reader, Schema writer, String location, String prefix) {
    String[] tokens = location.split("/");
    Schema r = reader;
    Schema w = writer;
    String path = prefix;
    try {
      for (int t = 1; t < tokens.length; t++) {
        switch (tokens[t]) {
          case "fields" -> {
            Schema.Field rf = r.getFields().get(Integer.parseInt(tokens[++t]));
            path = join(path, rf.name());
            r = rf.schema();
            w = writerField(w, rf);
          }
          case "items" -> {
            path += "[]";
            r = r.getElementType();
            w = w.getElementType();
          }
          case "values" -> {
            path += "{}";
            r = r.getValueType();
            w = w.getValueType();
          }
          case "type", "symbols", "size", "name" -> {}
          default -> {
            int index = Integer.parseInt(tokens[t]);
            if (w.getType() != Schema.Type.UNION) return null;
            w = w.getTypes().get(index);
            Schema branch = r.getType() == Schema.Type.UNION ? sameBranch(r, w) : null;
            if (branch != null) {
              r = branch;
              // Name the branch in the path only where both sides have it (feedback.Thumb.rating).
              if (branch.getType() == Schema.Type.RECORD) path = join(path, branch.getName());
            }
          }
        }
      }
    } catch (RuntimeException e) {
      // A pointer that does not fit the schemas as walked here (NumberFormat, IndexOutOfBounds, a
      // type without items): report Avro's own words rather than fail the verdict.
      return null;
    }
    return new Step(r, w, path);
  }

  /** The writer field the reader field reads (by name, then by the reader field's aliases), or null. */
  private static Schema writerField(Schema writer, Schema.Field readerField) {
    if (writer == null || writer.getType() != Schema.Type.RECORD) return null;
    Schema.Field f = writer.getField(readerField.name());
    if (f == null) {
      for (String alias : readerField.aliases()) {
        f = writer.getField(alias);
        if (f != null) break;
      }
    }
    return f == null ? null : f.schema();
  }

  /** The branch of a reader union (or the reader schema itself) that a writer's named type or primitive would go to. */
  private static Schema sameBranch(Schema reader, Schema writer) {
    List<Schema> candidates = reader.getType() == Schema.Type.UNION ? reader.getTypes() : List.of(reader);
    for (Schema c : candidates) {
      if (c.getType() != writer.getType()) continue;
      if (!isNamed(c) || c.getName().equals(writer.getName()) || c.getAliases().contains(writer.getFullName())) return c;
    }
    return null;
  }

  /** The path to the first array whose items can encode in zero bytes, or null when there is none. */
  private static String zeroWidthArray(Schema s, String path, Set<Schema> seen) {
    switch (s.getType()) {
      case RECORD -> {
        if (!seen.add(s)) return null;
        for (Schema.Field f : s.getFields()) {
          String found = zeroWidthArray(f.schema(), join(path, f.name()), seen);
          if (found != null) return found;
        }
      }
      case ARRAY -> {
        if (canBeEmpty(s.getElementType(), new HashSet<>())) return path;
        return zeroWidthArray(s.getElementType(), path + "[]", seen);
      }
      case MAP -> {
        return zeroWidthArray(s.getValueType(), path + "{}", seen);
      }
      case UNION -> {
        for (Schema b : s.getTypes()) {
          String found = zeroWidthArray(b, path, seen);
          if (found != null) return found;
        }
      }
      default -> {}
    }
    return null;
  }

  /** True when a value of {@code s} can be encoded in zero bytes (null, fixed(0), a record of such fields). */
  private static boolean canBeEmpty(Schema s, Set<Schema> seen) {
    return switch (s.getType()) {
      case NULL -> true;
      case FIXED -> s.getFixedSize() == 0;
      // A record that contains itself again cannot be finite and empty; stop there.
      case RECORD -> {
        if (!seen.add(s)) yield false;
        boolean empty = s.getFields().stream().allMatch(f -> canBeEmpty(f.schema(), seen));
        seen.remove(s);
        yield empty;
      }
      default -> false;
    };
  }
}
