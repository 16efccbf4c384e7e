package io.prefstream.serving.registry;

import io.prefstream.model.checkpoint.Checkpoint;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.checkpoint.CorruptCheckpointException;
import io.prefstream.model.io.ModelFormatException;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.policy.PolicyCheckpoint;
import io.prefstream.model.safetensors.InvalidSafetensorsException;
import io.prefstream.schemas.avro.PolicyUpdate;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Turns a {@link PolicyUpdate} into a resident {@link LoadedPolicy}, refusing anything it cannot
 * vouch for: the checkpoint directory must lie under the configured store root (when one is set),
 * be the version the update names, pass the store's manifest check (every file's size and sha256),
 * have the manifest sha256 the update announces, match the update's format, fit the base model's
 * shapes, and hold only finite values. Each refusal is a {@link RefusedVersionException} whose
 * message says what was wrong. A checkpoint that cannot be read now (its directory not yet visible,
 * a read error) is not refused: that is an {@link IOException}, which the registry retries.
 */
public final class VersionLoader implements PolicyLoader {
  private final BaseModel base;
  private final Optional<Path> storeRoot;
  /** Base weights on the backend once; LoRA versions are siblings that share them (never modified). */
  private final LlamaModel shared;

  /** @param storeRoot when present, checkpoints outside this directory are refused */
  public VersionLoader(BaseModel base, Optional<Path> storeRoot) {
    this.base = base;
    this.storeRoot = storeRoot.map(p -> p.toAbsolutePath().normalize());
    this.shared = LlamaModel.create(base.config(), base.weights(), base.backend());
  }

  @Override
  public BaseModel base() {
    return base;
  }

  /** The base weights as version 0 (reference "base"); never released while the registry lives. */
  @Override
  public LoadedPolicy loadBase(Consumer<LoadedPolicy> onRelease) {
    LlamaModel m = shared.sibling();
    return new LoadedPolicy(0, PolicyRegistry.BASE_REFERENCE, Map.of(), m, onRelease);
  }

  /**
   * Loads and verifies the checkpoint an update names.
   *
   * @throws RefusedVersionException an integrity failure: wrong place or layout, a manifest that does
   *     not match the files, another sha256 or format than announced, shapes that do not fit, a
   *     non-finite value
   * @throws IOException the checkpoint could not be read now (e.g. not yet visible); worth retrying
   */
  @Override
  public LoadedPolicy load(PolicyUpdate u, Consumer<LoadedPolicy> onRelease) throws RefusedVersionException, IOException {
    String what = "policy '" + u.getPolicyId() + "' v" + u.getVersion();
    Path dir;
    try {
      URI uri = URI.create(u.getCheckpointUri());
      if (!"file".equals(uri.getScheme())) {
        throw new RefusedVersionException(what + ": checkpoint_uri " + u.getCheckpointUri()
            + " is not a file: URI; only local checkpoint stores are supported");
      }
      dir = Path.of(uri).toAbsolutePath().normalize();
    } catch (IllegalArgumentException e) {
      throw new RefusedVersionException(what + ": checkpoint_uri '" + u.getCheckpointUri() + "' is not a valid URI: "
          + e.getMessage());
    }
    if (storeRoot.isPresent() && !dir.startsWith(storeRoot.get())) {
      throw new RefusedVersionException(what + ": checkpoint " + dir + " lies outside the checkpoint store " + storeRoot.get());
    }
    if (dir.getParent() == null || dir.getParent().getParent() == null
        || !dir.getFileName().toString().equals(Long.toString(u.getVersion()))
        || !dir.getParent().getFileName().toString().equals(u.getPolicyId())) {
      throw new RefusedVersionException(what + ": checkpoint " + dir + " is not laid out as <store>/"
          + u.getPolicyId() + "/" + u.getVersion());
    }
    CheckpointStore store = new CheckpointStore(dir.getParent().getParent());
    try {
      Checkpoint cp = store.open(u.getPolicyId(), u.getVersion());
      if (!cp.manifestSha256().equalsIgnoreCase(u.getSha256())) {
        throw new RefusedVersionException(what + ": manifest sha256 is " + cp.manifestSha256() + " but the update announced "
            + u.getSha256());
      }
      if (!cp.format().equals(u.getFormat().name())) {
        throw new RefusedVersionException(what + ": checkpoint format is " + cp.format() + " but the update says " + u.getFormat());
      }
      PolicyCheckpoint.Loaded loaded = PolicyCheckpoint.load(cp, base.config());
      LlamaModel m;
      if (loaded.isLora()) {
        m = shared.sibling();
        m.attachLora(loaded.adapter().orElseThrow().config(), loaded.adapter().orElseThrow().tensors());
      } else {
        m = LlamaModel.create(base.config(), loaded.fullWeights().orElseThrow(), base.backend());
      }
      return new LoadedPolicy(u.getVersion(), u.getReferenceId(), u.getMetrics() == null ? Map.of() : Map.copyOf(u.getMetrics()), m, onRelease);
    } catch (CorruptCheckpointException | ModelFormatException | InvalidSafetensorsException | RuntimeException e) {
      // The bytes are there and wrong (manifest, hash, shape, non-finite, format): reading again cannot help.
      throw new RefusedVersionException(what + ": " + message(e), e);
    } catch (IOException e) {
      throw new IOException(what + ": cannot read the checkpoint now: " + message(e), e);
    }
  }

  private static String message(Exception e) {
    return e.getMessage() == null ? e.toString() : e.getMessage();
  }

}
