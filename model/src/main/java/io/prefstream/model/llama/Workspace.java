package io.prefstream.model.llama;

import io.prefstream.model.backend.Backend;
import io.prefstream.model.backend.Buf;
import io.prefstream.model.config.LlamaConfig;

/**
 * Every buffer a forward/backward pass over up to {@code cap} tokens needs, allocated on first use
 * and reused by later passes of the same or smaller size (a bigger batch replaces the workspace).
 * Per-layer activations exist only when a pass keeps them; recompute and no-grad passes share one set.
 */
final class Workspace {
  final int cap;
  private final Backend be;
  private final LlamaConfig c;
  final int rank;
  final Buf[] xs; // residual stream entering layer l; xs[L] leaves the last layer
  private LayerActs[] saved;
  private LayerActs shared;
  final Buf xf, rstdF, hsel, logp, lseOut;
  private Buf dres, dxn, dq, dk, dv, datt, dg, du, dh, su, sdu, dhsel, gsel, dxf;

  Workspace(Backend be, LlamaConfig c, int cap, int rank) {
    this.be = be;
    this.c = c;
    this.cap = cap;
    this.rank = Math.max(1, rank);
    long nc = (long) cap * c.hiddenSize();
    xs = new Buf[c.numLayers() + 1];
    for (int l = 0; l <= c.numLayers(); l++) xs[l] = be.alloc(nc);
    xf = be.alloc(nc);
    rstdF = be.alloc(cap);
    hsel = be.alloc(nc);
    logp = be.alloc(cap);
    lseOut = be.alloc(cap);
    su = be.alloc((long) cap * this.rank);
  }

  LayerActs acts(int layer, boolean keep) {
    if (!keep) {
      if (shared == null) shared = new LayerActs(be, c, cap);
      return shared;
    }
    if (saved == null) saved = new LayerActs[c.numLayers()];
    if (saved[layer] == null) saved[layer] = new LayerActs(be, c, cap);
    return saved[layer];
  }

  Buf su() {
    return su;
  }

  /** Allocates the gradient scratch on the first backward. */
  void ensureGrads() {
    if (dres != null) return;
    long nc = (long) cap * c.hiddenSize();
    long qd = (long) cap * c.numHeads() * c.headDim(), kd = (long) cap * c.numKvHeads() * c.headDim();
    long nf = (long) cap * c.intermediateSize();
    dres = be.alloc(nc);
    dxn = be.alloc(nc);
    dq = be.alloc(qd);
    datt = be.alloc(qd);
    dk = be.alloc(kd);
    dv = be.alloc(kd);
    dg = be.alloc(nf);
    du = be.alloc(nf);
    dh = be.alloc(nf);
    sdu = be.alloc((long) cap * rank);
    dhsel = be.alloc(nc);
    gsel = be.alloc(cap);
    dxf = be.alloc(nc);
  }

  Buf dres() { return dres; }
  Buf dxn() { return dxn; }
  Buf dq() { return dq; }
  Buf dk() { return dk; }
  Buf dv() { return dv; }
  Buf datt() { return datt; }
  Buf dg() { return dg; }
  Buf du() { return du; }
  Buf dh() { return dh; }
  Buf sdu() { return sdu; }
  Buf dhsel() { return dhsel; }
  Buf gsel() { return gsel; }
  Buf dxf() { return dxf; }
}
