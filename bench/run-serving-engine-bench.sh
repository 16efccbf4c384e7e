#!/usr/bin/env bash
# The serving engine benchmark (issue 13): starts `prefstream serve` with a 106M-parameter
# Llama-shape F32 model (hidden 576, 30 layers, 9/3 heads, MLP 1536, byte-level vocabulary; random
# weights from `prefstream init-model`) and drives it from an independent Python gRPC client
# (bench/peer/serving_load.py, Debian's python3-grpcio) at 1 and 8 concurrent clients, 64 new
# tokens, sampled. With --baseline REF the same measurement runs first against that git revision
# (built from `git archive` in a temporary folder), so both servers are measured in one run on the
# same machine; the engine is measured with and without its prefix cache, and on the bundled tiny model. Then one replica serves 8 policies, each with a LoRA r=8 version published as a learner
# would (PublishPolicies), to 8 clients on one policy and to 8 clients spread over all 8; and the in-process
# EngineBench compares 8 policies x LoRA r=8 with one policy.
# Prints a table and writes bench/results/<date>-serving-engine.md unless --no-write.
#
# Usage: bench/run-serving-engine-bench.sh [--baseline REF] [--requests N] [--no-build] [--no-write]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bin/find-jdk.sh"
BASELINE="" REQUESTS=4 BUILD=1 WRITE=1 BASE_DIR="" WARMUP=3
while [ $# -gt 0 ]; do
  case "$1" in
    --baseline) BASELINE=$2; shift 2 ;;
    --baseline-dir) BASE_DIR=$2; shift 2 ;;
    --requests) REQUESTS=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --no-write) WRITE=0; shift ;;
    *) echo "unknown argument $1; expected --baseline REF, --baseline-dir DIR, --requests N, --no-build, --no-write" >&2; exit 2 ;;
  esac
done
PY=/usr/bin/python3
"$PY" -c 'import grpc' 2>/dev/null || { echo "python3-grpcio is missing: apt-get install -y python3-grpcio" >&2; exit 1; }
WORK=$(mktemp -d /tmp/prefstream-engine-bench.XXXXXX)
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

build() { # $1 = source tree
  (cd "$1" && ./mvnw -B -q -o package -DskipTests -pl deploy,bench -am) >&2
}
if [ "$BUILD" = 1 ]; then build "$ROOT"; fi
if [ -n "$BASELINE" ] && [ -z "$BASE_DIR" ]; then
  BASE_DIR=$WORK/baseline
  mkdir -p "$BASE_DIR"
  git -C "$ROOT" archive "$BASELINE" | tar -x -C "$BASE_DIR"
  (cd "$BASE_DIR" && ./mvnw -B -q -o package -DskipTests -pl deploy -am) >&2
fi

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
FLAGS=$(cat "$ROOT/deploy/target/jvm.flags")
cli() { # $1 = tree, rest = CLI arguments
  local tree=$1; shift
  # shellcheck disable=SC2086
  "$JAVA_HOME/bin/java" $FLAGS -cp "$tree/deploy/target/prefstream.jar:$tree/deploy/target/lib/*" io.prefstream.deploy.cli.Main "$@"
}

cli "$ROOT" init-model --preset tiny --hidden 576 --layers 30 --heads 9 --kv-heads 3 --intermediate 1536 \
  --max-positions 1024 --out "$WORK/model" >&2

measure() { # $1 = tree, $2 = label, rest = more serve flags; MODEL = another model; prints "label clients tokens/s p50"
  local tree=$1 label=$2 port kport
  shift 2
  port=$(free_port); kport=$(free_port)
  cli "$tree" serve --model "${MODEL:-$WORK/model}" --device cpu --host 127.0.0.1 --port "$port" --metrics-port -1 \
    --embedded-port "$kport" --embedded-data-dir "$WORK/kafka-$label" --checkpoints "$WORK/ckpt-$label" "$@" \
    > "$WORK/serve-$label.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 120); do grep -q "serving policy" "$WORK/serve-$label.log" && break; sleep 1; done
  grep -q "serving policy" "$WORK/serve-$label.log" || { cat "$WORK/serve-$label.log" >&2; exit 1; }
  # Warm-up (JIT) on both shapes of step, one sequence and a batch: a cold JVM would be measured otherwise,
  # which on the tiny model (replies of ~10 tokens, ~1 ms steps) is most of the time.
  # Until the rate settles: the tiny model's 1-client rate rose from ~430 to ~1,680 tokens/s between the
  # first few and the first few hundred requests.
  "$PY" "$ROOT/bench/peer/serving_load.py" "127.0.0.1:$port" 1 "$WARMUP" 64 > /dev/null
  "$PY" "$ROOT/bench/peer/serving_load.py" "127.0.0.1:$port" 8 "$WARMUP" 64 > /dev/null
  for clients in 1 8; do
    local n=$REQUESTS
    [ "$clients" = 1 ] && n=$((REQUESTS * 2))
    local out
    out=$("$PY" "$ROOT/bench/peer/serving_load.py" "127.0.0.1:$port" "$clients" "$n" 64)
    echo "$label $clients $("$PY" -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["tokens_per_s"], r["p50_s"], r["requests"], len(r["errors"]))' "$out")"
  done
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
}

# One replica, 8 policies each with a LoRA r=8 version (published like a learner would): 8 clients on one of them,
# then 8 clients spread over all of them. Prints "policies-one|policies-eight clients tokens/s p50 requests errors".
measure_policies() {
  local port kport ids
  port=$(free_port); kport=$(free_port)
  cli "$ROOT" serve --model "$WORK/model" --device cpu --host 127.0.0.1 --port "$port" --metrics-port -1 \
    --embedded-port "$kport" --embedded-data-dir "$WORK/kafka-policies" --checkpoints "$WORK/policies" \
    > "$WORK/serve-policies.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 120); do grep -q "serving policy" "$WORK/serve-policies.log" && break; sleep 1; done
  grep -q "serving policy" "$WORK/serve-policies.log" || { cat "$WORK/serve-policies.log" >&2; exit 1; }
  # shellcheck disable=SC2086
  ids=$("$JAVA_HOME/bin/java" $FLAGS -cp "$ROOT/bench/target/prefstream-bench-0.1.0-SNAPSHOT.jar:$ROOT/bench/target/lib/*" \
    io.prefstream.bench.serving.PublishPolicies "127.0.0.1:$kport" "$WORK/model" "$WORK/policies" 8 2>/dev/null)
  # shellcheck disable=SC2086
  (cd "$ROOT/bench/peer" && "$PY" await_policies.py "127.0.0.1:$port" 180 $ids) || { tail -20 "$WORK/serve-policies.log" >&2; exit 1; }
  "$PY" "$ROOT/bench/peer/serving_load.py" "127.0.0.1:$port" 1 1 64 "${ids%% *}" > /dev/null # warm-up
  local label out
  for label in one eight; do
    local which=${ids%% *}
    # shellcheck disable=SC2086
    [ "$label" = eight ] && which=$ids
    # shellcheck disable=SC2086
    out=$("$PY" "$ROOT/bench/peer/serving_load.py" "127.0.0.1:$port" 8 "$REQUESTS" 64 $which)
    echo "policies-$label 8 $("$PY" -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["tokens_per_s"], r["p50_s"], r["requests"], len(r["errors"]))' "$out")"
  done
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
RESULTS=$WORK/results.txt
: > "$RESULTS"
if [ -n "$BASE_DIR" ]; then measure "$BASE_DIR" before >> "$RESULTS"; fi
measure "$ROOT" engine >> "$RESULTS"
# The client's prompts share their first 25 bytes ("Once upon a time, client "): the same engine with its prefix
# cache off shows what that sharing is worth.
measure "$ROOT" engine-no-prefix-cache --prefix-cache-mib 0 >> "$RESULTS"
# The bundled tiny model (1.7M parameters, chat template, EOS): per-step overheads weigh more than the weights here.
# Its replies end at EOS after ~10 tokens, so it gets 8x the requests for a measurable run.
if [ -n "$BASE_DIR" ]; then WARMUP=40 REQUESTS=$((REQUESTS * 8)) MODEL="$ROOT/models/assistant-tiny" measure "$BASE_DIR" tiny-before >> "$RESULTS"; fi
WARMUP=40 REQUESTS=$((REQUESTS * 8)) MODEL="$ROOT/models/assistant-tiny" measure "$ROOT" tiny-engine >> "$RESULTS"
measure_policies >> "$RESULTS"
# shellcheck disable=SC2086
ENGINE_BENCH=$("$JAVA_HOME/bin/java" $FLAGS -cp "$ROOT/bench/target/prefstream-bench-0.1.0-SNAPSHOT.jar:$ROOT/bench/target/lib/*" \
  io.prefstream.bench.serving.EngineBench --requests 2 2>/dev/null)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

TABLE=$(awk 'BEGIN { print "| server | clients | completion tokens/s | p50 latency s | requests | errors |"; print "|---|---|---|---|---|---|" }
  { printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$RESULTS")
RATIOS=$(awk '{ tps[$1 " " $2] = $3; p50[$1 " " $2] = $4 }
  END { for (s in tps) if (s ~ / 8$/) { split(s, a, " "); one = a[1] " 1"; if (!(one in tps)) continue;
          printf "- %s: 8-client aggregate / 1-client = %.2f; p50 at 8 / p50 at 1 = %.2f\n", a[1], tps[s] / tps[one], p50[s] / p50[one] }
        if (("before 1" in tps) && ("engine 1" in tps)) printf "- 1-client rate, engine / before = %.2f\n", tps["engine 1"] / tps["before 1"]
        if (("policies-one 8" in tps) && ("policies-eight 8" in tps)) printf "- one replica, 8 clients over 8 policies (LoRA r=8 each) / 8 clients on one of them = %.2f\n", tps["policies-eight 8"] / tps["policies-one 8"] }' "$RESULTS")
REPORT=$(cat <<EOF
# Serving engine benchmark (106M-parameter Llama shape, F32, CPU)

$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')); $(uname -srm);
$("$JAVA_HOME/bin/java" -version 2>&1 | head -1); load average $LOAD_BEFORE at start, $LOAD_AFTER at end.
Model: hidden 576, 30 layers, 9/3 heads, MLP 1536, byte-level vocabulary, random F32 weights (\`init-model\`).
Client: bench/peer/serving_load.py (Python grpcio, hand-encoded protobuf), Generate, 64 new tokens, temperature 1,
top-p 0.95, one seed per request; 1 client sends $((REQUESTS * 2)) requests, each of 8 clients $REQUESTS, one after another.
${BASELINE:+"before" is revision $BASELINE (per-request decode loops), measured in the same run.}

$TABLE

$RATIOS

In-process engine, 8 policies x LoRA r=8 against one policy (EngineBench, same model, no gRPC):

\`\`\`
$ENGINE_BENCH
\`\`\`
EOF
)
echo "$REPORT"
if [ "$WRITE" = 1 ]; then
  mkdir -p "$ROOT/bench/results"
  OUT_FILE="$ROOT/bench/results/$(date -u +%Y-%m-%d)-serving-engine.md"
  # A second run on the same day gets its own file rather than replacing the first.
  [ -e "$OUT_FILE" ] && OUT_FILE="$ROOT/bench/results/$(date -u +%Y-%m-%d-%H%M)-serving-engine.md"
  echo "$REPORT" > "$OUT_FILE"
fi
