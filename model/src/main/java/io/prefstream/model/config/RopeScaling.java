package io.prefstream.model.config;

/**
 * How a RoPE variant rescales the unscaled inverse frequencies θ^(−2j/d), in transformers' terms
 * ({@code rope_scaling.rope_type}). Only variants that are a fixed per-frequency map are here: the
 * angle stays position × frequency, so the cos/sin table is built once (see {@link RopeTable}).
 * Variants that depend on the sequence length or rescale attention (dynamic, yarn, longrope) are
 * refused by the loader.
 */
public sealed interface RopeScaling {
  /** Unscaled RoPE: transformers' "default". */
  RopeScaling NONE = new Unscaled();

  /** transformers' {@code rope_type} name for this variant. */
  String type();

  /** The scaled inverse frequency (radians per position) for an unscaled one, in float64. */
  double scale(double invFreq);

  /** rope_type "default": frequencies as they are. */
  record Unscaled() implements RopeScaling {
    @Override
    public String type() {
      return "default";
    }

    @Override
    public double scale(double invFreq) {
      return invFreq;
    }
  }

  /** rope_type "linear": every frequency divided by {@code factor} (positions interpolated). */
  record Linear(double factor) implements RopeScaling {
    public Linear {
      positiveFinite("factor", factor);
    }

    @Override
    public String type() {
      return "linear";
    }

    @Override
    public double scale(double invFreq) {
      return invFreq / factor;
    }
  }

  /**
   * rope_type "llama3" (Llama 3.1 / 3.2): with wavelength λ = 2π / f and L the original context,
   * frequencies with λ &lt; L / highFreqFactor are kept, those with λ &gt; L / lowFreqFactor are
   * divided by {@code factor}, and those between are blended: (1 − s)·f/factor + s·f with
   * s = (L/λ − lowFreqFactor) / (highFreqFactor − lowFreqFactor).
   *
   * @param originalMaxPositions {@code original_max_position_embeddings} (L)
   */
  record Llama3(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions)
      implements RopeScaling {
    public Llama3 {
      positiveFinite("factor", factor);
      positiveFinite("low_freq_factor", lowFreqFactor);
      positiveFinite("high_freq_factor", highFreqFactor);
      if (!(highFreqFactor > lowFreqFactor)) {
        throw new IllegalArgumentException("high_freq_factor (" + highFreqFactor + ") must be greater than low_freq_factor ("
            + lowFreqFactor + ")");
      }
      if (originalMaxPositions <= 0) {
        throw new IllegalArgumentException("original_max_position_embeddings must be > 0, got " + originalMaxPositions);
      }
    }

    @Override
    public String type() {
      return "llama3";
    }

    @Override
    public double scale(double invFreq) {
      double wavelen = 2 * Math.PI / invFreq;
      if (wavelen < originalMaxPositions / highFreqFactor) return invFreq;
      if (wavelen > originalMaxPositions / lowFreqFactor) return invFreq / factor;
      double smooth = (originalMaxPositions / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
      return (1 - smooth) * invFreq / factor + smooth * invFreq;
    }
  }

  private static void positiveFinite(String field, double v) {
    if (!(v > 0) || Double.isInfinite(v)) throw new IllegalArgumentException(field + " must be a finite number > 0, got " + v);
  }
}
