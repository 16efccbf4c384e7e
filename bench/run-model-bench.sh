#!/usr/bin/env bash
# Runs the model's CPU benchmark (io.prefstream.bench.ModelBench) and its PyTorch peer
# (bench/peer/torch_model_bench.py) in the same run, on the same shape (SmolLM2-135M by default,
# random weights, sequence 256, LoRA r=16 on every projection), and writes
# bench/results/<date>-model-cpu.md with the machine, the load, both sets of tokens/s and the ratios.
#
# Needs: JDK >= 25 (found as the launcher finds it), the bench module built (built here with
# `./mvnw -pl bench -am package` unless --no-build), Debian's python3-torch and libopenblas0-pthread
# (apt-get install -y python3-torch libopenblas0-pthread python3-threadpoolctl).
# Usage: bench/run-model-bench.sh [--preset smollm2-135m|small|tiny] [--seq 256] [--iters 3] [--no-build]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bin/find-jdk.sh"
PRESET=smollm2-135m SEQ=256 ITERS=3 BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) PRESET=$2; shift 2 ;;
    --seq) SEQ=$2; shift 2 ;;
    --iters) ITERS=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    *) echo "unknown argument $1; expected --preset, --seq, --iters, --no-build" >&2; exit 2 ;;
  esac
done
PY=/usr/bin/python3
if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "PyTorch is missing: apt-get install -y python3-torch libopenblas0-pthread python3-threadpoolctl" >&2
  exit 1
fi
if [ "$BUILD" = 1 ] || [ ! -f "$ROOT/bench/target/prefstream-bench-0.1.0-SNAPSHOT.jar" ]; then
  (cd "$ROOT" && ./mvnw -B -q -pl bench -am package -DskipTests) >&2
fi
FLAGS="--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED"

DAY=$(date -u +%Y-%m-%d)
OUT=$ROOT/bench/results/$DAY-model-cpu.md
mkdir -p "$ROOT/bench/results"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
CORES=$(nproc)
JDK=$("$JAVA_HOME/bin/java" -version 2>&1 | head -1)

echo "== prefstream ModelBench ($PRESET, seq $SEQ), load $LOAD_BEFORE" >&2
OURS=$("$JAVA_HOME/bin/java" $FLAGS -Xmx8g -cp "$ROOT/bench/target/prefstream-bench-0.1.0-SNAPSHOT.jar:$ROOT/bench/target/lib/*" \
  io.prefstream.bench.ModelBench --preset "$PRESET" --seq "$SEQ" --iters "$ITERS" 2>/dev/null)
echo "$OURS" >&2
LOAD_MID=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== PyTorch peer, load $LOAD_MID" >&2
# OpenBLAS picks its kernels itself: the machine-wide overrides make it 15x slower (see shared/STACK.md).
PEER=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" "$ROOT/bench/peer/torch_model_bench.py" \
  --preset "$PRESET" --seq "$SEQ" --iters "$ITERS")
echo "$PEER" >&2
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

"$PY" - "$OUT" "$ITERS" "$PRESET" "$SEQ" "$CORES" "$CPU" "$JDK" "$LOAD_BEFORE" "$LOAD_MID" "$LOAD_AFTER" "$OURS" "$PEER" <<'PYEOF'
import json, re, sys
out, iters, preset, seq, cores, cpu, jdk, lb, lm, la, ours, peer = sys.argv[1:]
p = json.loads(peer)
m = re.search(r"forward ([\d.]+) tokens/s \(([\d.]+) s\), forward\+backward LoRA ([\d.]+) tokens/s \(([\d.]+) s\), peak heap (\d+) MiB", ours)
if not m:
    sys.exit("could not read ModelBench's output:\n" + ours)
fwd, fwd_s, fb, fb_s, heap = float(m.group(1)), float(m.group(2)), float(m.group(3)), float(m.group(4)), m.group(5)
dec = re.search(r"decode .*: ([\d.]+) tokens/s", ours)
blas = ", ".join(f"{b['internal_api']} {b.get('version') or ''} {b.get('architecture') or ''} {b.get('threading_layer') or ''} {b['num_threads']} threads".replace("  ", " ")
                 for b in p["blas"]) or "unknown (threadpoolctl missing)"
lines = [
    f"# Model CPU benchmark: {preset}, sequence {seq}",
    "",
    "Random weights; forward = summed log-probs of one sequence (1 prompt token + "
    f"{int(seq) - 1} scored tokens) without gradients; forward+backward = the same with a LoRA adapter "
    "(r=16, alpha 32, q/k/v/o/gate/up/down) and gradients to the LoRA parameters only. Best of "
    f"{iters} timed runs after 3 warm-up runs, batch 1. Written by `bench/run-model-bench.sh`.",
    "",
    "## Machine",
    "",
    f"- {cores} cores, {cpu}",
    f"- {jdk}",
    f"- PyTorch {p['torch']} (Debian python3-torch, Python {p['python']}), {p['threads']} threads; BLAS: {blas}; "
    f"OPENBLAS_* for the peer: {p['openblas_env'] or 'unset'}",
    f"- load average (1/5/15 min): {lb} before, {lm} between, {la} after (a shared machine: other work ran beside)",
    "",
    "## Results (tokens/s, higher is better)",
    "",
    "| | prefstream (Java, CPU backend) | PyTorch | ratio prefstream/PyTorch |",
    "|---|---:|---:|---:|",
    f"| forward | {fwd:.1f} ({fwd_s:.3f} s) | {p['forward_tokens_per_s']:.1f} ({p['forward_s']:.3f} s) | {fwd / p['forward_tokens_per_s']:.2f}× |",
    f"| forward+backward (LoRA grads) | {fb:.1f} ({fb_s:.3f} s) | {p['forward_backward_tokens_per_s']:.1f} ({p['forward_backward_s']:.3f} s) | {fb / p['forward_backward_tokens_per_s']:.2f}× |",
    "",
    f"Peak memory: prefstream {heap} MiB Java heap; PyTorch {p['peak_rss_mib']:.0f} MiB resident (whole process).",
]
if dec:
    lines.append(f"prefstream cached decoding (LoRA attached, unmerged): {float(dec.group(1)):.1f} tokens/s.")
lines += ["", "## Raw output", "", "```", ours.strip(), peer.strip(), "```", ""]
open(out, "w").write("\n".join(lines))
print(out)
PYEOF
