#!/usr/bin/env bash
# Runs the learner benchmarks of issue 5 on the CPU and writes bench/results/<date>-learner-cpu.md:
#  - io.prefstream.bench.learner.LearnerStepBench: DPO step time split into reference forward, policy
#    forward+backward and optimiser, and tokens/s, for the tiny preset and SmolLM2-135M's shape;
#  - io.prefstream.bench.learner.FreshnessBench: publication -> first PolicyUpdate including the event,
#    p50/p99, embedded broker + ingest + learner (tiny) in one JVM, default batch/checkpoint settings.
# Needs: JDK >= 25 (bench and the modules it uses are built here unless --no-build).
# Usage: bench/run-learner-bench.sh [--no-build] [--seconds 75] [--rate 20]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bin/find-jdk.sh"
BUILD=1 SECONDS_RUN=75 RATE=20
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0; shift ;;
    --seconds) SECONDS_RUN=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    *) echo "unknown argument $1; expected --no-build, --seconds, --rate" >&2; exit 2 ;;
  esac
done
if [ "$BUILD" = 1 ]; then
  (cd "$ROOT" && ./mvnw -B -q -pl bench -am package -DskipTests) >&2
fi
JAVA=("$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED
      --sun-misc-unsafe-memory-access=allow -Xmx8g -cp "$ROOT/bench/target/classes:$ROOT/bench/target/lib/*")

DAY=$(date -u +%Y-%m-%d)
OUT=$ROOT/bench/results/$DAY-learner-cpu.md
mkdir -p "$ROOT/bench/results"
LOG=$(mktemp -d)
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
CORES=$(nproc)
JDK=$("$JAVA_HOME/bin/java" -version 2>&1 | head -1)
STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== LearnerStepBench, load $LOAD_BEFORE" >&2
STEP=$("${JAVA[@]}" io.prefstream.bench.learner.LearnerStepBench 2>"$LOG/step.err")
echo "$STEP" >&2
LOAD_MID=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== FreshnessBench, load $LOAD_MID" >&2
FRESH=$("${JAVA[@]}" io.prefstream.bench.learner.FreshnessBench --rate "$RATE" --seconds "$SECONDS_RUN" 2>"$LOG/fresh.err")
echo "$FRESH" >&2
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
OTHER=$(ps -eo pcpu,args --sort=-pcpu | awk 'NR>1 && $1>20 {printf "%s%% %s\n", $1, substr($0, index($0,$2), 80)}' | head -5)

{
  echo "# Learner CPU benchmark (issue 5): step time, tokens/s, loop freshness"
  echo
  echo "Run $STARTED by \`bench/run-learner-bench.sh\`. Random weights, byte-level tokenizer."
  echo
  echo "## Machine and load"
  echo
  echo "- $CORES cores, $CPU"
  echo "- $JDK"
  echo "- load average (1/5/15 min): $LOAD_BEFORE before, $LOAD_MID between, $LOAD_AFTER after"
  echo "- **Shared machine**: another process (a full test run of the project, in /tmp) used the CPU during"
  echo "  this run, so both cores were not ours; read the figures as lower bounds on an idle machine."
  if [ -n "$OTHER" ]; then
    echo "  Processes above 20% CPU when the run ended:"
    echo '```'
    echo "$OTHER"
    echo '```'
  fi
  echo
  echo "## Step time (DpoTrainer.step, online defaults: sigmoid DPO β 0.1, LoRA r 8 α 16 on every projection, AdamW)"
  echo
  echo "Medians over the timed steps after warm-up steps. Policy tokens/step = pairs × 2 sequences × (prompt + response);"
  echo "policy tokens/s = those over the policy forward+backward time; step tokens/s = over the whole step."
  echo
  echo "$STEP" | grep -E '^(\||sequences:)'
  echo
  echo "## Freshness (publication → first PolicyUpdate whose weights include the event)"
  echo
  echo "Embedded broker, ingest and learner (tiny preset) in one JVM with the default settings printed below;"
  echo "comparisons published open-loop at $RATE events/s for $SECONDS_RUN s. An event's freshness is the arrival"
  echo "(read_committed poll) of the first PolicyUpdate whose checkpoint's batches.json lists a batch holding it,"
  echo "minus the event's send() time. With these defaults it is dominated by the checkpoint cadence"
  echo "(every 10 steps or 30 s), not by the step time."
  echo
  echo '```'
  echo "$FRESH"
  echo '```'
  echo
  echo "Reading the freshness figures: while events flow, an update is published every 10 steps (10 batches),"
  echo "so an event waits for its batch (up to the 2 s batch age or 32 items), then for the rest of its"
  echo "10-step group; the last update of the run covers the tail published after the last full group"
  echo "and waits for the 30 s checkpoint interval, which is what sets the p99/max (traffic stopping is the"
  echo "worst case). Per-update lines above show both regimes."
  echo
  echo "## Raw step output"
  echo
  echo '```'
  echo "$STEP" | grep -vE '^\|'
  echo '```'
} > "$OUT"
echo "$OUT"
