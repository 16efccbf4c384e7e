package io.prefstream.model.generate;

/**
 * The generated tokens (the EOS token excluded), their text (cut before a stop string; empty when
 * no {@link TokenText} was given) and why generation ended.
 */
public record GenerationResult(int[] tokens, String text, FinishReason finishReason) {}
