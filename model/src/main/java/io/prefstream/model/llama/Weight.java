package io.prefstream.model.llama;

import io.prefstream.model.backend.Backend;
import io.prefstream.model.backend.Buf;
import io.prefstream.model.train.Parameter;

/** One base tensor of the model on the backend, with a gradient buffer once full fine-tuning asks for it. */
final class Weight {
  final String name;
  final int[] shape;
  final Buf value;
  final boolean matrix;
  Buf grad;
  private Parameter parameter;

  Weight(String name, int[] shape, Buf value, boolean matrix) {
    this.name = name;
    this.shape = shape;
    this.value = value;
    this.matrix = matrix;
  }

  long numel() {
    long n = 1;
    for (int d : shape) n *= d;
    return n;
  }

  Parameter parameter(Backend backend) {
    if (parameter == null) {
      grad = backend.alloc(numel());
      parameter = new Parameter(name, shape, value, grad, backend, matrix);
    }
    return parameter;
  }
}
