package io.prefstream.model.generate;

/** Why generation ended: the token budget ran out, the EOS token came, or a stop string appeared. */
public enum FinishReason {
  LENGTH,
  EOS,
  STOP
}
