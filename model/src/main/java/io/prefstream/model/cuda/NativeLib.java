package io.prefstream.model.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A loaded shared library and the downcall handles bound from it. Loading happens only when a
 * backend is opened (never in static initialisers), so machines without CUDA never touch it.
 */
final class NativeLib {
  private final String what;
  private final String location;
  private final SymbolLookup lookup;
  private final Map<String, MethodHandle> handles = new HashMap<>();

  private NativeLib(String what, String location, SymbolLookup lookup) {
    this.what = what;
    this.location = location;
    this.lookup = lookup;
  }

  /** Loads a library by path or, for a bare file name, through the system loader (dlopen). */
  static NativeLib load(String what, String pathOrName) {
    try {
      SymbolLookup l = pathOrName.contains("/")
          ? SymbolLookup.libraryLookup(java.nio.file.Path.of(pathOrName), Arena.global())
          : SymbolLookup.libraryLookup(pathOrName, Arena.global());
      return new NativeLib(what, pathOrName, l);
    } catch (IllegalArgumentException e) {
      throw new CudaUnavailableException("cannot load " + what + " from " + pathOrName + ": " + e.getMessage(), e);
    }
  }

  /** Binds every signature of the list; a missing symbol names the library and the symbol. */
  NativeLib bindAll(List<Sig> sigs) {
    Linker linker = Linker.nativeLinker();
    for (Sig s : sigs) {
      MemorySegment addr = lookup.find(s.symbol()).orElseThrow(() -> new CudaUnavailableException(
          what + " at " + location + " has no symbol " + s.symbol() + " (a newer CUDA is needed)"));
      handles.put(s.symbol(), linker.downcallHandle(addr, s.descriptor()));
    }
    return this;
  }

  MethodHandle h(String symbol) {
    MethodHandle m = handles.get(symbol);
    if (m == null) throw new IllegalStateException(symbol + " was not bound from " + what);
    return m;
  }

  String location() {
    return location;
  }
}
