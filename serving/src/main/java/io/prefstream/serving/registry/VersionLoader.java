package io.prefstream.serving.registry;

import io.prefstream.model.checkpoint.Checkpoint;
import io.prefstream.model.checkpoint.DirectoryVersionStore;
import io.prefstream.model.checkpoint.CorruptCheckpointException;
import io.prefstream.model.checkpoint.VersionStore;
import io.prefstream.model.io.ModelFormatException;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.lora.LoraAdapter;
import io.prefstream.model.policy.PolicyCheckpoint;
import io.prefstream.model.safetensors.InvalidSafetensorsException;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.model.train.Parameter;
import io.prefstream.schemas.avro.PolicyUpdate;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Turns a {@link PolicyUpdate} into a resident {@link LoadedPolicy}, refusing anything it cannot
 * vouch for: the checkpoint must be opened by one of its {@link VersionStore}s (a directory under the
 * configured root, or the Kafka store's chunks), be the version the update names, pass the store's
 * manifest check (every file's size and sha256), have the manifest sha256 the update announces, match the update's format, fit the base model's
 * shapes, and hold only finite values. Each refusal is a {@link RefusedVersionException} whose
 * message says what was wrong. A checkpoint that cannot be read now (its directory not yet visible,
 * a read error) is not refused: that is an {@link IOException}, which the registry retries. Each
 * copy carries its size beyond the base ({@link LoadedPolicy#bytes()}) for the resident budget.
 */
public final class VersionLoader implements PolicyLoader {
  private final BaseModel base;
  private final List<VersionStore> stores;
  /** Base weights on the backend once; LoRA versions are siblings that share them (never modified). */
  private final LlamaModel shared;

  /** @param storeRoot when present, checkpoints outside this directory are refused; file: URIs only */
  public VersionLoader(BaseModel base, Optional<Path> storeRoot) {
    this(base, List.of(new DirectoryVersionStore(storeRoot)));
  }

  /** @param stores the stores checkpoint URIs are opened with, the first that reads a URI's scheme wins */
  public VersionLoader(BaseModel base, List<VersionStore> stores) {
    this.base = base;
    this.stores = List.copyOf(stores);
    this.shared = LlamaModel.create(base.config(), base.weights(), base.backend());
  }

  private String schemes() {
    return stores.stream().map(s -> s.getClass().getSimpleName()).toList().toString();
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
    URI uri;
    try {
      uri = URI.create(u.getCheckpointUri());
    } catch (IllegalArgumentException e) {
      throw new RefusedVersionException(what + ": checkpoint_uri '" + u.getCheckpointUri() + "' is not a valid URI: "
          + e.getMessage());
    }
    VersionStore store = stores.stream().filter(s -> s.reads(uri)).findFirst().orElseThrow(() ->
        new RefusedVersionException(what + ": checkpoint_uri " + uri + " has scheme '" + uri.getScheme()
            + "', which no configured checkpoint store reads (" + schemes() + ")"));
    try {
      // The store checks place, layout, every file against the manifest and the announced sha256.
      Checkpoint cp = store.open(uri, u.getPolicyId(), u.getVersion(), u.getSha256());
      if (!cp.format().equals(u.getFormat().name())) {
        throw new RefusedVersionException(what + ": checkpoint format is " + cp.format() + " but the update says " + u.getFormat());
      }
      PolicyCheckpoint.Loaded loaded = PolicyCheckpoint.load(cp, base.config());
      LlamaModel m;
      long bytes;
      if (loaded.isLora()) {
        m = shared.sibling();
        LoraAdapter adapter = m.attachLora(loaded.adapter().orElseThrow().config(), loaded.adapter().orElseThrow().tensors());
        bytes = adapterBytes(adapter);
      } else {
        m = LlamaModel.create(base.config(), loaded.fullWeights().orElseThrow(), base.backend());
        bytes = tensorBytes(loaded.fullWeights().orElseThrow());
      }
      return new LoadedPolicy(u.getVersion(), u.getReferenceId(), u.getMetrics() == null ? Map.of() : Map.copyOf(u.getMetrics()), m,
          bytes, onRelease);
    } catch (CorruptCheckpointException | ModelFormatException | InvalidSafetensorsException | RuntimeException e) {
      // The bytes are there and wrong (manifest, hash, shape, non-finite, format): reading again cannot help.
      throw new RefusedVersionException(what + ": " + message(e), e);
    } catch (IOException e) {
      throw new IOException(what + ": cannot read the checkpoint now: " + message(e), e);
    }
  }

  /** An adapter's factors and the gradient buffers allocated beside them, as the backend holds them (float32). */
  static long adapterBytes(LoraAdapter adapter) {
    long floats = 0;
    for (Parameter p : adapter.parameters()) floats += p.value().size() + p.grad().size();
    return floats * Float.BYTES;
  }

  /** Full weights in float32: what a version built from them holds in place of the shared base. */
  static long tensorBytes(Map<String, NamedTensor> tensors) {
    long floats = 0;
    for (NamedTensor t : tensors.values()) floats += t.data().length;
    return floats * Float.BYTES;
  }

  private static String message(Exception e) {
    return e.getMessage() == null ? e.toString() : e.getMessage();
  }

}
