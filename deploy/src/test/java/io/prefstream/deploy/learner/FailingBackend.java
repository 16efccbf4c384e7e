package io.prefstream.deploy.learner;

import io.prefstream.model.backend.AdamWCoefficients;
import io.prefstream.model.backend.Backend;
import io.prefstream.model.backend.BackendFailure;
import io.prefstream.model.backend.Buf;
import io.prefstream.model.backend.SeqLayout;
import io.prefstream.model.config.Rope;
import java.util.Map;
import java.util.TreeMap;

/**
 * A real backend (the CPU one, in these tests) that fails like a device: once armed with
 * {@link #failOn}, the chosen call of an op throws a {@link BackendFailure} instead of running. Not
 * a {@code CpuBackend} itself, so the trainer treats it as a device backend: host copies of the
 * trainable parameters, gradients downloaded before and values uploaded after the host AdamW step.
 */
final class FailingBackend implements Backend {
  private final Backend real;
  private final Map<String, Integer> calls = new TreeMap<>();
  private String failOp;
  private int failAt;
  private int seen;

  FailingBackend(Backend real) {
    this.real = real;
  }

  /** From now on, the {@code occurrence}-th call (1-based) of {@code op} fails (any thread may arm it). */
  synchronized void failOn(String op, int occurrence) {
    failOp = op;
    failAt = occurrence;
    seen = 0;
  }

  /** Calls of each op so far. */
  synchronized Map<String, Integer> calls() {
    return Map.copyOf(calls);
  }

  private synchronized void op(String name) {
    calls.merge(name, 1, Integer::sum);
    if (name.equals(failOp) && ++seen == failAt) {
      failOp = null;
      throw new BackendFailure("injected device fault: " + name + " call " + failAt + " failed (CUDA_ERROR_ILLEGAL_ADDRESS)");
    }
  }

  @Override public Buf alloc(long n) { op("alloc"); return real.alloc(n); }
  @Override public Buf weight(float[] data, int out, int in) { op("weight"); return real.weight(data, out, in); }
  @Override public Buf weight(float[] data, int out, int in, boolean trainable) {
    op("weight");
    return real.weight(data, out, in, trainable);
  }
  @Override public void refreshWeight(Buf weight) { op("refreshWeight"); real.refreshWeight(weight); }
  @Override public void upload(Buf dst, float[] src) { op("upload"); real.upload(dst, src); }
  @Override public void download(Buf src, float[] dst) { op("download"); real.download(src, dst); }
  @Override public void copy(Buf dst, long dstOff, Buf src, long srcOff, long n) {
    op("copy");
    real.copy(dst, dstOff, src, srcOff, n);
  }
  @Override public void zero(Buf b) { op("zero"); real.zero(b); }
  @Override public void scale(Buf x, long n, float s) { op("scale"); real.scale(x, n, s); }
  @Override public void addInPlace(Buf dst, Buf src, long n) { op("addInPlace"); real.addInPlace(dst, src, n); }
  @Override public void matmulForward(Buf y, Buf x, Buf w, Buf bias, int n, int in, int out, boolean accumulate) {
    op("matmulForward");
    real.matmulForward(y, x, w, bias, n, in, out, accumulate);
  }
  @Override public void matmulBackwardInput(Buf dx, Buf dy, Buf w, int n, int in, int out, boolean accumulate) {
    op("matmulBackwardInput");
    real.matmulBackwardInput(dx, dy, w, n, in, out, accumulate);
  }
  @Override public void matmulBackwardWeight(Buf dw, Buf dy, Buf x, int n, int in, int out) {
    op("matmulBackwardWeight");
    real.matmulBackwardWeight(dw, dy, x, n, in, out);
  }
  @Override public void biasBackward(Buf db, Buf dy, int n, int out) { op("biasBackward"); real.biasBackward(db, dy, n, out); }
  @Override public void embeddingForward(Buf out, Buf table, int[] tokens, int n, int c) {
    op("embeddingForward");
    real.embeddingForward(out, table, tokens, n, c);
  }
  @Override public void embeddingBackward(Buf dTable, Buf dOut, int[] tokens, int n, int c) {
    op("embeddingBackward");
    real.embeddingBackward(dTable, dOut, tokens, n, c);
  }
  @Override public void rmsnormForward(Buf out, Buf rstd, Buf x, Buf w, int n, int c, float eps) {
    op("rmsnormForward");
    real.rmsnormForward(out, rstd, x, w, n, c, eps);
  }
  @Override public void rmsnormBackward(Buf dx, Buf dw, Buf dOut, Buf x, Buf w, Buf rstd, int n, int c) {
    op("rmsnormBackward");
    real.rmsnormBackward(dx, dw, dOut, x, w, rstd, n, c);
  }
  @Override public void ropeForward(Buf x, int[] positions, int n, int heads, int headDim, Rope rope) {
    op("ropeForward");
    real.ropeForward(x, positions, n, heads, headDim, rope);
  }
  @Override public void ropeBackward(Buf dx, int[] positions, int n, int heads, int headDim, Rope rope) {
    op("ropeBackward");
    real.ropeBackward(dx, positions, n, heads, headDim, rope);
  }
  @Override public void attentionForward(Buf out, Buf lse, Buf q, Buf k, Buf v, SeqLayout layout, int heads,
      int kvHeads, int headDim) {
    op("attentionForward");
    real.attentionForward(out, lse, q, k, v, layout, heads, kvHeads, headDim);
  }
  @Override public void attentionBackward(Buf dq, Buf dk, Buf dv, Buf dOut, Buf out, Buf lse, Buf q, Buf k, Buf v,
      SeqLayout layout, int heads, int kvHeads, int headDim) {
    op("attentionBackward");
    real.attentionBackward(dq, dk, dv, dOut, out, lse, q, k, v, layout, heads, kvHeads, headDim);
  }
  @Override public void kvAppend(Buf kCache, Buf vCache, Buf k, Buf v, int past, int n, int capacity, int kvHeads,
      int headDim) {
    op("kvAppend");
    real.kvAppend(kCache, vCache, k, v, past, n, capacity, kvHeads, headDim);
  }
  @Override public void kvCopyPrefix(Buf dstK, Buf dstV, int dstCapacity, Buf srcK, Buf srcV, int srcCapacity, int n,
      int kvHeads, int headDim) {
    op("kvCopyPrefix");
    real.kvCopyPrefix(dstK, dstV, dstCapacity, srcK, srcV, srcCapacity, n, kvHeads, headDim);
  }
  @Override public void attentionCached(Buf out, Buf q, Buf kCache, Buf vCache, int past, int n, int capacity,
      int heads, int kvHeads, int headDim) {
    op("attentionCached");
    real.attentionCached(out, q, kCache, vCache, past, n, capacity, heads, kvHeads, headDim);
  }
  @Override public void swigluForward(Buf h, Buf g, Buf u, long n) { op("swigluForward"); real.swigluForward(h, g, u, n); }
  @Override public void swigluBackward(Buf dg, Buf du, Buf dh, Buf g, Buf u, long n) {
    op("swigluBackward");
    real.swigluBackward(dg, du, dh, g, u, n);
  }
  @Override public void gatherRows(Buf dst, Buf src, int[] rows, int c) { op("gatherRows"); real.gatherRows(dst, src, rows, c); }
  @Override public void scatterAddRows(Buf dst, Buf src, int[] rows, int c) {
    op("scatterAddRows");
    real.scatterAddRows(dst, src, rows, c);
  }
  @Override public void logSoftmaxGatherForward(Buf logp, Buf lse, Buf hidden, Buf head, int[] targets, int m, int c,
      int vocab) {
    op("logSoftmaxGatherForward");
    real.logSoftmaxGatherForward(logp, lse, hidden, head, targets, m, c, vocab);
  }
  @Override public void logSoftmaxGatherBackward(Buf dHidden, Buf dHead, Buf g, Buf hidden, Buf head, Buf lse,
      int[] targets, int m, int c, int vocab) {
    op("logSoftmaxGatherBackward");
    real.logSoftmaxGatherBackward(dHidden, dHead, g, hidden, head, lse, targets, m, c, vocab);
  }
  @Override public double sumSquares(Buf x, long n) { op("sumSquares"); return real.sumSquares(x, n); }
  @Override public void adamwUpdate(Buf p, Buf g, Buf m, Buf v, long n, AdamWCoefficients c) {
    op("adamwUpdate");
    real.adamwUpdate(p, g, m, v, n, c);
  }
  @Override public void close() { real.close(); }
}
