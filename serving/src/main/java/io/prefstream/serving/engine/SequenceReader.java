package io.prefstream.serving.engine;

import io.prefstream.model.generate.FinishReason;
import io.prefstream.model.generate.GenerationResult;
import io.prefstream.model.generate.SamplingParams;
import io.prefstream.model.generate.TokenListener;
import io.prefstream.model.generate.TokenText;
import java.util.Arrays;

/**
 * The request side of one engine sequence: turns its events (tokens, then an end or an error) into
 * its result the way {@link io.prefstream.model.generate.Generator} builds it, stop strings included,
 * calling the listener (streaming) on each token. A quiet sequence ({@link EngineSequence#quiet})
 * sends only its end; its tokens are read from its history then.
 */
final class SequenceReader {
  private final EngineSequence s;
  private final TokenText text;
  private final TokenListener listener;
  private final int[] out;
  private int count;
  private String decoded = "";

  SequenceReader(EngineSequence s, TokenText text, TokenListener listener) {
    this.s = s;
    this.text = text;
    this.listener = listener;
    this.out = new int[s.budget];
  }

  /** The result once the sequence has ended, else null; throws the sequence's failure. */
  GenerationResult take(EngineSequence.Event ev) {
    if (ev.error() != null) throw ev.error();
    if (ev.end() != null) {
      if (s.quiet) { // no token events: the tokens are in the history (written before the end event was sent)
        count = s.generated;
        System.arraycopy(s.history, s.prompt.length, out, 0, count);
        if (text != null) decoded = text.decode(Arrays.copyOf(out, count));
      }
      return new GenerationResult(Arrays.copyOf(out, count), decoded, ev.end());
    }
    out[count++] = ev.token();
    if (listener != null) listener.onToken(ev.token());
    if (text != null) {
      decoded = text.decode(Arrays.copyOf(out, count));
      int cut = firstStop(decoded, s.params);
      if (cut >= 0) return new GenerationResult(Arrays.copyOf(out, count), decoded.substring(0, cut), FinishReason.STOP);
    }
    return null;
  }

  private static int firstStop(String s, SamplingParams params) {
    int best = -1;
    for (String stop : params.stopStrings()) {
      int i = s.indexOf(stop);
      if (i >= 0 && (best < 0 || i < best)) best = i;
    }
    return best;
  }
}
