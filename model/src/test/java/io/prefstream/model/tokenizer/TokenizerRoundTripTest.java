package io.prefstream.model.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/** Any Unicode text (every code point but lone surrogates) survives encode then decode exactly. */
class TokenizerRoundTripTest {
  static HfTokenizer bytes;
  static HfTokenizer bpe;

  @BeforeContainer
  static void load() throws IOException {
    Path root = Files.createTempDirectory("tokprop");
    ByteLevelTokenizerFiles.write(root.resolve("bytes"), List.of(), 512);
    ByteLevelTokenizerFiles.write(root.resolve("bpe"), BpeTrainer.train(ByteLevelTokenizerTest.CORPUS, 80), 512);
    bytes = HfTokenizer.load(root.resolve("bytes"));
    bpe = HfTokenizer.load(root.resolve("bpe"));
  }

  @AfterContainer
  static void close() {
    bytes.close();
    bpe.close();
  }

  @Provide
  Arbitrary<String> unicodeText() {
    Arbitrary<Integer> any = Arbitraries.integers().between(0, 0x10FFFF)
        .filter(cp -> cp < Character.MIN_SURROGATE || cp > Character.MAX_SURROGATE);
    Arbitrary<Integer> common = Arbitraries.of((int) ' ', (int) 'e', (int) 'a', (int) '\n', (int) '!', 0xE9, 0x1F600);
    Arbitrary<Integer> ascii = Arbitraries.integers().between(0, 127);
    return Arbitraries.frequencyOf(
            net.jqwik.api.Tuple.of(3, ascii), net.jqwik.api.Tuple.of(2, common), net.jqwik.api.Tuple.of(2, any))
        .list().ofMaxSize(80)
        .map(cps -> {
          StringBuilder sb = new StringBuilder();
          cps.forEach(sb::appendCodePoint);
          return sb.toString();
        });
  }

  @Property(tries = 300)
  void byteVocabularyRoundTrips(@ForAll("unicodeText") String text) {
    assertThat(bytes.decode(bytes.encode(text))).isEqualTo(text);
  }

  @Property(tries = 300)
  void learnedMergesRoundTrip(@ForAll("unicodeText") String text) {
    assertThat(bpe.decode(bpe.encode(text))).isEqualTo(text);
  }

  @Property(tries = 100)
  void streamingGivesTheSameTextAsDecodingAtOnce(@ForAll("unicodeText") String text) {
    int[] ids = bpe.encode(text);
    StreamingDecoder d = bpe.streamDecoder();
    StringBuilder sb = new StringBuilder();
    for (int id : ids) sb.append(d.push(id));
    sb.append(d.finish());
    assertThat(sb.toString()).isEqualTo(text);
  }
}
