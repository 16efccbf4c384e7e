package io.prefstream.serving.registry;

import io.prefstream.schemas.avro.PolicyUpdate;
import java.util.function.Consumer;

/** What the {@link PolicyRegistry} needs to turn updates into resident versions; {@link VersionLoader} in production. */
interface PolicyLoader {
  BaseModel base();

  /** The base weights as version 0. */
  LoadedPolicy loadBase(Consumer<LoadedPolicy> onRelease);

  /** Loads and verifies the checkpoint an update names; a refusal says what was wrong. */
  LoadedPolicy load(PolicyUpdate u, Consumer<LoadedPolicy> onRelease) throws RefusedVersionException;
}
