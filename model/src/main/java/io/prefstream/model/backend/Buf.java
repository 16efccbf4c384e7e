package io.prefstream.model.backend;

/**
 * An opaque float32 buffer owned by a {@link Backend}: host memory on the CPU backend, a device
 * pointer on a GPU backend. Layers never see the memory itself; they pass handles to backend ops,
 * so one model implementation runs on every backend. A buffer is only valid with the backend that
 * allocated it.
 */
public interface Buf {
  /** Number of float32 elements. */
  long size();
}
