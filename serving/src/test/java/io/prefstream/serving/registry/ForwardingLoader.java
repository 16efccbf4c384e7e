package io.prefstream.serving.registry;

import io.prefstream.schemas.avro.PolicyUpdate;
import java.io.IOException;
import java.util.function.Consumer;

/** A test loader that hands every call to a real {@link VersionLoader}; subclasses step in before {@link #load}. */
abstract class ForwardingLoader implements PolicyLoader {
  final VersionLoader real;

  ForwardingLoader(VersionLoader real) {
    this.real = real;
  }

  @Override
  public BaseModel base() {
    return real.base();
  }

  @Override
  public LoadedPolicy loadBase(Consumer<LoadedPolicy> onRelease) {
    return real.loadBase(onRelease);
  }

  @Override
  public LoadedPolicy load(PolicyUpdate u, Consumer<LoadedPolicy> onRelease) throws RefusedVersionException, IOException {
    return real.load(u, onRelease);
  }
}
