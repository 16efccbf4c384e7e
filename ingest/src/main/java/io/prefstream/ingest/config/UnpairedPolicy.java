package io.prefstream.ingest.config;

/**
 * What happens to a thumb that is still unpaired when its prompt's pairing window closes: it becomes
 * an unpaired example for KTO ({@link #KTO}, the default), or it is counted and dropped
 * ({@link #DROP}) for learners that train on pairs only.
 */
public enum UnpairedPolicy {
  KTO,
  DROP
}
