#!/usr/bin/env bash
# The demo's fluency yardstick offline, with many replies (io.prefstream.bench.demo.DemoFluencyCheck): samples
# replies to each of the corpus's 48 messages from the bundled model and from each demo report's final checkpoint
# with the demo users' sampling, scores them under the reference, and prints a table (reference NLL per token with
# a 95% interval and its rise over the base model's, keyword share, reply form) after the machine and load.
#
# Needs: JDK >= 25 (found as the launcher finds it); bench is built here unless --no-build.
# Usage: bench/run-demo-fluency-check.sh [--no-build] [--samples 8] [--seed 1] [--keyword WORD] [--model DIR]
#          [NAME=REPORT_DIR ...]   (REPORT_DIR: a demo's --report-dir; its final checkpoint is used)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bin/find-jdk.sh"
BUILD=1 ARGS=() MODEL=$ROOT/models/assistant-tiny
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0; shift ;;
    --samples|--seed|--keyword) ARGS+=("$1" "$2"); shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    *=*)
      name=${1%%=*} report=${1#*=}
      # The final checkpoint: the highest version folder under checkpoints/<policy>/.
      ckpt=$(find "$report/checkpoints" -mindepth 2 -maxdepth 2 -type d -regex '.*/[0-9]+' 2>/dev/null | sort -V | tail -1)
      [ -n "$ckpt" ] || { echo "$report: no checkpoints/<policy>/<version> folder (expected a demo report directory)" >&2; exit 2; }
      ARGS+=("$name=$ckpt"); shift ;;
    *) echo "unknown argument $1; expected --no-build, --samples, --seed, --keyword, --model, NAME=REPORT_DIR" >&2; exit 2 ;;
  esac
done
if [ "$BUILD" = 1 ]; then
  (cd "$ROOT" && ./mvnw -B -q -pl bench -am package -DskipTests) >&2
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); $("$JAVA_HOME/bin/java" -version 2>&1 | head -1); load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%Y-%m-%d %H:%M UTC')"
exec "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  --sun-misc-unsafe-memory-access=allow -Xmx4g -cp "$ROOT/bench/target/classes:$ROOT/bench/target/lib/*" \
  io.prefstream.bench.demo.DemoFluencyCheck --model "$MODEL" "${ARGS[@]}"
