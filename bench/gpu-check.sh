#!/usr/bin/env bash
# One run on a lent GPU machine (see ../shared/GPU.md): needs the bundle that bench/make-gpu-bundle.sh
# builds into .gpu-bundle/ on a CPU machine, carried along (device tool: carry [".gpu-bundle"]).
#   1. unpacks the jlinked Java 25 runtime into a temporary folder
#   2. the CUDA conformance suite (every kernel against its CPU twin, the serving engine's batched step,
#      a DPO step) and the backend contract on the GPU, the NVRTC compile
#      and header-signature tests, with JUnit's XML reports
#   3. the benchmarks on the same GPU: GpuBench (Java, this project) and bench/peer/torch_gpu_bench.py
#      (PyTorch eager, transformers + PEFT, SDPA): DPO step on the SmolLM2-135M shape (16 pairs x 512,
#      bf16, LoRA r=16 on all projections) and batch-1 decode (the prefill timed on both sides)
#   4. prints a short table last; details under $OUT in 7 files (the device tool returns at most 8):
#      summary.md, conformance.log (bundle, nvidia-smi, JUnit tree), junit-reports.tgz,
#      java-bench.{json,log}, torch-bench.{json,log}
# Every stage runs even when an earlier one failed; the exit status is the first failure's. The run
# fails when the conformance suite skipped (no GPU found); CONFORMANCE_SEED=N replays its inputs.
# Afterwards, on the CPU machine: copy $OUT/summary.md to bench/results/<date>-gpu-<card>.md (the
# device tool puts $OUT's files under its files_at folder) and commit it with the card's name.
# Device time: about 1-2 min start + under 1 min conformance + ~1 min per benchmark; one call with
# timeout_s=600, then give_back.
# Usage (device tool): bash bench/gpu-check.sh            [env: STEPS=5 DECODE_TOKENS=128 SKIP_PEER=1]
# Smoke test without a GPU: GPU_CHECK_DEVICE=cpu GPU_CHECK_PRESET=tiny bash bench/gpu-check.sh
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$ROOT/bench/results/tmp/gpu-check}
mkdir -p "$OUT"
B="$ROOT/.gpu-bundle"
DEVICE=${GPU_CHECK_DEVICE:-cuda}
PRESET=${GPU_CHECK_PRESET:-smollm2-135m}
STEPS=${STEPS:-5}
DECODE_TOKENS=${DECODE_TOKENS:-128}
STATUS=0
fail() { [ "$STATUS" = 0 ] && STATUS=$1; }
if [ ! -f "$B/jre.tgz" ]; then
  echo "no bundle at $B: run bench/make-gpu-bundle.sh on a CPU machine and carry .gpu-bundle" >&2
  exit 2
fi
WORK=$(mktemp -d)
tar -C "$WORK" -xzf "$B/jre.tgz"
JAVA="$WORK/jre/bin/java"
FLAGS="--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Dprefstream.cuda.cache=$WORK/kernel-cache"
CP=$(ls "$B"/lib/*.jar | grep -v junit-platform-console-standalone | paste -sd:)
CONSOLE=$(ls "$B"/lib/junit-platform-console-standalone-*.jar)
export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
{ cat "$B/BUNDLE.txt"; nvidia-smi || echo "nvidia-smi not available"; } > "$OUT/conformance.log" 2>&1
GPU=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)

echo "== conformance (JUnit) =="
SEED=${CONFORMANCE_SEED:-$(date +%s%N)}
echo "conformance seed: $SEED (rerun with CONFORMANCE_SEED=$SEED)" | tee -a "$OUT/conformance.log"
"$JAVA" $FLAGS -Dprefstream.conformance.seed="$SEED" -jar "$CONSOLE" execute --class-path "$CP" --disable-banner --disable-ansi-colors --details=tree \
  --select-class io.prefstream.model.cuda.CudaBackendConformanceTest \
  --select-class io.prefstream.model.cuda.CudaBackendContractTest \
  --select-class io.prefstream.model.cuda.NvrtcCompileTest \
  --select-class io.prefstream.model.cuda.HeaderSignatureTest \
  --select-class io.prefstream.model.cuda.NativeSymbolsTest \
  --select-class io.prefstream.model.cuda.CudaLibrariesTest \
  --select-class io.prefstream.model.backend.AdamWCoefficientsTest \
  --reports-dir "$WORK/junit" 2>&1 | tee -a "$OUT/conformance.log"
CONF_RC=${PIPESTATUS[0]}
tar -C "$WORK" -czf "$OUT/junit-reports.tgz" junit 2>/dev/null
[ "$CONF_RC" = 0 ] || fail "$CONF_RC"
# A GPU run where discovery failed skips every conformance test and JUnit exits 0: that is no pass.
CONF_SKIPPED=$(python3 - "$WORK/junit" <<'PY'
import glob, os, sys
import xml.etree.ElementTree as ET
ran = skipped = 0
for x in glob.glob(os.path.join(sys.argv[1], "*.xml")):
    for case in ET.parse(x).getroot().iter("testcase"):
        if "CudaBackendConformanceTest" not in case.get("classname", ""):
            continue
        ran += 1
        if case.find("skipped") is not None:
            skipped += 1
print(skipped if ran else "none-ran")
PY
)
if [ "$CONF_SKIPPED" != 0 ]; then
  echo "conformance: CudaBackendConformanceTest skipped ($CONF_SKIPPED): no GPU run, so this check fails" | tee -a "$OUT/conformance.log"
  fail 3
fi

echo "== GpuBench (Java) =="
timeout 300 "$JAVA" $FLAGS -cp "$CP" io.prefstream.bench.gpu.GpuBench --device "$DEVICE" --preset "$PRESET" \
  --steps "$STEPS" --decode-tokens "$DECODE_TOKENS" --out "$OUT/java-bench.json" 2>&1 | tee "$OUT/java-bench.log"
JAVA_RC=${PIPESTATUS[0]}
[ "$JAVA_RC" = 0 ] || fail "$JAVA_RC"

PEER_RC=skipped
if [ "${SKIP_PEER:-0}" != 1 ] && [ "$DEVICE" = cuda ]; then
  echo "== PyTorch peer =="
  PYTHONUNBUFFERED=1 timeout 300 python3 "$ROOT/bench/peer/torch_gpu_bench.py" --steps "$STEPS" \
    --decode-tokens "$DECODE_TOKENS" --out "$OUT/torch-bench.json" 2>&1 | tee "$OUT/torch-bench.log"
  PEER_RC=${PIPESTATUS[0]}
  [ "$PEER_RC" = 0 ] || fail "$PEER_RC"
fi

python3 - "$OUT" "$GPU" "$CONF_RC" "$JAVA_RC" "$PEER_RC" "$WORK/junit" <<'PY' | tee "$OUT/summary.md"
import json, os, sys, glob
import xml.etree.ElementTree as ET
out, gpu, conf_rc, java_rc, peer_rc, junit = sys.argv[1:7]
def load(name):
    p = os.path.join(out, name)
    try:
        with open(p) as f:
            return json.loads(f.read().strip().splitlines()[-1])
    except Exception:
        return None
tests = fails = skips = 0
for x in glob.glob(os.path.join(junit, "*.xml")):
    for s in ET.parse(x).getroot().iter("testsuite"):
        tests += int(s.get("tests", 0)); fails += int(s.get("failures", 0)) + int(s.get("errors", 0)); skips += int(s.get("skipped", 0))
j, t = load("java-bench.json"), load("torch-bench.json")
print(f"## GPU check on {gpu or 'unknown GPU'}\n")
print(f"conformance: {tests} tests, {fails} failed, {skips} skipped (rc {conf_rc}); GpuBench rc {java_rc}; peer rc {peer_rc}\n")
print("| measure | prefstream (Java, FFM) | PyTorch eager | ratio |")
print("|---|---|---|---|")
def row(label, jv, tv, fmt, higher_better=True):
    js = fmt.format(jv) if jv is not None else "n/a"
    ts = fmt.format(tv) if tv is not None else "n/a"
    r = "n/a"
    if jv and tv:
        r = "{:.2f}x".format(jv / tv if higher_better else tv / jv)
    print(f"| {label} | {js} | {ts} | {r} |")
g = lambda d, *k: (None if d is None else (d.get(k[0]) if len(k) == 1 else g(d.get(k[0]), *k[1:])))
row("DPO step, policy tokens/s", g(j, "dpo", "policy_tokens_per_s"), g(t, "dpo", "policy_tokens_per_s"), "{:,.0f}")
row("DPO step, ms (median)", g(j, "dpo", "step_ms"), g(t, "dpo", "step_ms"), "{:.1f}", higher_better=False)
row("GPU memory, GiB (ours: used at end; torch: peak allocated)", g(j, "device_mem_used_gib"), g(t, "dpo", "peak_gib"), "{:.1f}", higher_better=False)
row("decode batch 1, tokens/s", g(j, "decode", "tokens_per_s"), g(t, "decode", "tokens_per_s"), "{:,.1f}")
PY
rm -rf "$WORK"
exit "$STATUS"
