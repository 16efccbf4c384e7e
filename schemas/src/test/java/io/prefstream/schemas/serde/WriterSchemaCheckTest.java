package io.prefstream.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.schemas.avro.PreferenceEvent;
import org.apache.avro.Schema;
import org.junit.jupiter.api.Test;

/** Verdicts on writer schemas name the field at fault in words, however deep it is. */
class WriterSchemaCheckTest {
  private static final Schema CURRENT = PreferenceEvent.getClassSchema();

  /** A reader record with a nested union of records, a map and an array, and a writer differing at {@code %s}. */
  private static final String NESTED = """
      {"type":"record","name":"R","fields":[
        {"name":"x","type":"int"},
        {"name":"u","type":["null",{"type":"record","name":"S","fields":[
          {"name":"e","type":{"type":"enum","name":"E","symbols":%s}},
          {"name":"m","type":{"type":"map","values":%s}}]}]},
        {"name":"arr","type":{"type":"array","items":%s}}]}""";

  private static Schema nested(String symbols, String mapValues, String items) {
    return WriterSchemas.parseSchema(NESTED.formatted(symbols, mapValues, items));
  }

  private static final Schema READER = nested("[\"A\",\"B\"]", "\"long\"", "\"long\"");

  @Test
  void everyWriterTheReaderCanReadHasNoProblems() {
    assertThat(WriterSchemaCheck.problems(CURRENT, CURRENT)).isEmpty();
    assertThat(WriterSchemaCheck.problems(CURRENT, SchemaEvolutionTest.v1())).isEmpty();
    assertThat(WriterSchemaCheck.problems(READER, nested("[\"B\",\"A\"]", "\"int\"", "\"int\""))).isEmpty();
  }

  @Test
  void missingRequiredFieldIsNamed() {
    assertThat(WriterSchemaCheck.problems(CURRENT, WriterSchemas.without(CURRENT, "timestamp", "prompt")))
        .containsExactlyInAnyOrder(
            "field timestamp: not in the writer schema, and the reader has no default for it",
            "field prompt: not in the writer schema, and the reader has no default for it");
  }

  @Test
  void typeMismatchIsNamedWithTheTypes() {
    assertThat(WriterSchemaCheck.problems(CURRENT, WriterSchemas.retyped(CURRENT, "prompt", "\"int\"")))
        .containsExactly("field prompt: reader type: STRING not compatible with writer type: INT");
  }

  @Test
  void problemInsideAUnionBranchIsExplainedAtItsField() {
    // Avro's check only says the union lacks a branch for the writer's S; the reason is two levels down.
    assertThat(WriterSchemaCheck.problems(READER, nested("[\"A\",\"B\",\"C\"]", "\"long\"", "\"long\"")))
        .containsExactly("field u.S.e: the writer's enum symbols [C] are not in the reader's enum E (which has no default)");
    assertThat(WriterSchemaCheck.problems(READER, nested("[\"A\",\"B\"]", "\"string\"", "\"long\"")))
        .containsExactly("field u.S.m{}: reader type: LONG not compatible with writer type: STRING");
  }

  @Test
  void writerRecordReadIntoAReaderUnionIsExplainedToo() {
    Schema writer = WriterSchemas.parseSchema(NESTED.formatted("[\"A\",\"B\",\"C\"]", "\"long\"", "\"long\"")
        .replace("[\"null\",{\"type\":\"record\"", "{\"type\":\"record\"").replace("}]}]},", "}]}},"));
    assertThat(writer.getField("u").schema().getType()).isEqualTo(Schema.Type.RECORD);
    assertThat(WriterSchemaCheck.problems(READER, writer))
        .containsExactly("field u.S.e: the writer's enum symbols [C] are not in the reader's enum E (which has no default)");
  }

  @Test
  void ratingWithANewSymbolNamesTheThumbsRating() {
    Schema writer = WriterSchemas.parseSchema(CURRENT.toString().replace("[\"UP\",\"DOWN\"]", "[\"UP\",\"DOWN\",\"MEH\"]"));
    assertThat(WriterSchemaCheck.problems(CURRENT, writer)).containsExactly(
        "field feedback.Thumb.rating: the writer's enum symbols [MEH] are not in the reader's enum Rating (which has no default)");
  }

  @Test
  void writerUnionWithABranchTheReaderLacksNamesTheBranch() {
    // Checked per writer schema, as Avro's check does: events of the other branches are refused too.
    Schema writer = WriterSchemas.retyped(CURRENT, "feedback", CURRENT.getField("feedback").schema().toString()
        .replaceFirst("^\\[", "[{\"type\":\"record\",\"name\":\"Ranking\",\"fields\":[{\"name\":\"order\",\"type\":\"int\"}]},"));
    assertThat(WriterSchemaCheck.problems(CURRENT, writer)).containsExactly(
        "field feedback: the reader's union [Thumb, Comparison] has no branch for the writer's record "
            + "io.prefstream.schemas.avro.Ranking");
  }

  @Test
  void enumReadIntoAReaderUnionIsNamed() {
    Schema reader = WriterSchemas.parseSchema("""
        {"type":"record","name":"R","fields":[{"name":"e","type":["null",{"type":"enum","name":"E","symbols":["A"]}]}]}""");
    Schema writer = WriterSchemas.parseSchema("""
        {"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}}]}""");
    assertThat(WriterSchemaCheck.problems(reader, writer))
        .containsExactly("field e: the writer's enum symbols [B] are not in the reader's enum E (which has no default)");
  }

  @Test
  void writerUnionBranchOfAnotherTypeIsNamed() {
    assertThat(WriterSchemaCheck.problems(READER, nested("[\"A\",\"B\"]", "\"long\"", "[\"null\",\"long\"]")))
        .containsExactly("field arr[]: reader type: LONG not compatible with writer type: NULL");
  }

  @Test
  void writerArrayOfZeroByteItemsIsRefused() {
    // Resolvable by Avro's rules, but a count of items that take no bytes cannot be bounded by the message size.
    for (String items : new String[] {"\"null\"", "{\"type\":\"fixed\",\"name\":\"Nothing\",\"size\":0}",
        "{\"type\":\"record\",\"name\":\"Empty\",\"fields\":[]}"}) {
      Schema writer = WriterSchemas.withField(CURRENT, 8, "{\"name\":\"pings\",\"type\":{\"type\":\"array\",\"items\":" + items + "}}");
      assertThat(WriterSchemaCheck.problems(CURRENT, writer)).as(items).containsExactly(
          "field pings: an array whose items can be zero bytes long, which cannot be bounded by the message size");
    }
    Schema ok = WriterSchemas.withField(CURRENT, 8, "{\"name\":\"pings\",\"type\":{\"type\":\"array\",\"items\":[\"null\",\"int\"]}}");
    assertThat(WriterSchemaCheck.problems(CURRENT, ok)).as("a union index takes a byte").isEmpty();
  }
}
