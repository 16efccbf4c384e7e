package io.prefstream.model.cuda;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * One native function this package binds: its exported symbol and its C signature as an FFM
 * descriptor. The binding classes list their signatures as data, so a test can check every one
 * against the CUDA headers without loading a library.
 */
record Sig(String symbol, FunctionDescriptor descriptor) {
  static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT;
  static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG;
  static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;
  static final java.lang.foreign.AddressLayout PTR = ValueLayout.ADDRESS;

  static Sig of(String symbol, MemoryLayout result, MemoryLayout... args) {
    return new Sig(symbol, FunctionDescriptor.of(result, args));
  }

  int parameterCount() {
    return descriptor.argumentLayouts().size();
  }

  static List<Sig> list(Sig... s) {
    return List.of(s);
  }
}
