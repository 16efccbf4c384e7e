package io.prefstream.model.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Learns byte-level BPE merges from a corpus, for small demo vocabularies (a few hundred merges).
 * Text is split like GPT-2's pre-tokenizer (words with their leading space, numbers, punctuation runs,
 * whitespace), each piece spelled in bytes, and the most frequent adjacent pair is merged repeatedly;
 * ties go to the lexicographically smallest pair so the result is deterministic. The straightforward
 * recount per merge is fine at this size.
 */
public final class BpeTrainer {
  /** GPT-2's split, which tokenizers' ByteLevel pre-tokenizer also applies. */
  static final Pattern SPLIT = Pattern.compile(
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");

  private BpeTrainer() {}

  /** Up to {@code numMerges} merges, stopping early when no pair occurs twice. */
  public static List<BpeMerge> train(Iterable<String> corpus, int numMerges) {
    Map<String, Integer> pieceCounts = new HashMap<>();
    for (String text : corpus) {
      Matcher m = SPLIT.matcher(text);
      while (m.find()) pieceCounts.merge(m.group(), 1, Integer::sum);
    }
    List<List<String>> words = new ArrayList<>();
    List<Integer> counts = new ArrayList<>();
    pieceCounts.entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> {
      List<String> symbols = new ArrayList<>();
      for (byte b : e.getKey().getBytes(StandardCharsets.UTF_8)) symbols.add(String.valueOf(ByteLevel.charOf(b)));
      words.add(symbols);
      counts.add(e.getValue());
    });
    List<BpeMerge> merges = new ArrayList<>();
    while (merges.size() < numMerges) {
      Map<String, Integer> pairCounts = new LinkedHashMap<>();
      for (int w = 0; w < words.size(); w++) {
        List<String> s = words.get(w);
        for (int i = 0; i + 1 < s.size(); i++) pairCounts.merge(s.get(i) + " " + s.get(i + 1), counts.get(w), Integer::sum);
      }
      String best = null;
      int bestCount = 1;
      for (Map.Entry<String, Integer> e : pairCounts.entrySet()) {
        if (e.getValue() > bestCount || (e.getValue() == bestCount && best != null && e.getKey().compareTo(best) < 0)) {
          best = e.getKey();
          bestCount = e.getValue();
        }
      }
      if (best == null) break;
      int sp = best.indexOf(' ');
      BpeMerge merge = new BpeMerge(best.substring(0, sp), best.substring(sp + 1));
      merges.add(merge);
      for (List<String> s : words) {
        for (int i = 0; i + 1 < s.size(); i++) {
          if (s.get(i).equals(merge.left()) && s.get(i + 1).equals(merge.right())) {
            s.set(i, merge.merged());
            s.remove(i + 1);
          }
        }
      }
    }
    return merges;
  }
}
