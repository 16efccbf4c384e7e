package io.prefstream.model.safetensors;

import io.prefstream.model.tensor.NamedTensor;
import java.io.IOException;
import java.util.Map;
import java.util.Set;

/**
 * Named tensors stored on disk, read one at a time as float32: a single safetensors file or a
 * sharded set behind an index. Closing releases the memory maps.
 */
public interface TensorSource extends AutoCloseable {
  /** Tensor names in the order the file (or the index) lists them. */
  Set<String> names();

  /** The header entry of a tensor; throws {@link IllegalArgumentException} for an unknown name. */
  TensorInfo info(String name);

  /** The tensor converted to float32. */
  NamedTensor read(String name) throws IOException;

  /** The {@code __metadata__} strings (of the index or the file). */
  Map<String, String> metadata();

  @Override
  void close();
}
