package io.prefstream.deploy.demo.corpus;

/** Whether a support reply gives only the answer (SHORT) or adds details and a closing line (LONG). */
public enum Length {
  SHORT,
  LONG
}
