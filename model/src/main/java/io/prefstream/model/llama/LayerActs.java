package io.prefstream.model.llama;

import io.prefstream.model.backend.Backend;
import io.prefstream.model.backend.Buf;
import io.prefstream.model.config.LlamaConfig;

/** The activations one decoder layer saves for its backward pass, for up to {@code cap} tokens. */
final class LayerActs {
  final Buf xn1, rstd1, q, k, v, att, lse, x2, xn2, rstd2, g, u, h;

  LayerActs(Backend be, LlamaConfig c, int cap) {
    long qd = (long) c.numHeads() * c.headDim(), kd = (long) c.numKvHeads() * c.headDim();
    xn1 = be.alloc((long) cap * c.hiddenSize());
    rstd1 = be.alloc(cap);
    q = be.alloc(cap * qd);
    k = be.alloc(cap * kd);
    v = be.alloc(cap * kd);
    att = be.alloc(cap * qd);
    lse = be.alloc((long) cap * c.numHeads());
    x2 = be.alloc((long) cap * c.hiddenSize());
    xn2 = be.alloc((long) cap * c.hiddenSize());
    rstd2 = be.alloc(cap);
    g = be.alloc((long) cap * c.intermediateSize());
    u = be.alloc((long) cap * c.intermediateSize());
    h = be.alloc((long) cap * c.intermediateSize());
  }
}
