package io.prefstream.deploy.demo.corpus;

/** The manner of a support reply: warm and apologetic, matter-of-fact, or brusque. */
public enum Tone {
  POLITE,
  NEUTRAL,
  CURT
}
