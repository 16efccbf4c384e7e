package io.prefstream.serving.registry;

import io.prefstream.schemas.avro.PolicyUpdate;
import java.io.IOException;
import java.util.function.Consumer;

/** What the {@link PolicyRegistry} needs to turn updates into resident versions; {@link VersionLoader} in production. */
interface PolicyLoader {
  BaseModel base();

  /** The base weights as version 0. */
  LoadedPolicy loadBase(Consumer<LoadedPolicy> onRelease);

  /**
   * Loads and verifies the checkpoint an update names.
   *
   * @throws RefusedVersionException the checkpoint is there and wrong (integrity): never retried
   * @throws IOException it could not be read now (not yet visible, a read error): worth retrying
   */
  LoadedPolicy load(PolicyUpdate u, Consumer<LoadedPolicy> onRelease) throws RefusedVersionException, IOException;
}
