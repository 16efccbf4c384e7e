#!/usr/bin/env bash
# Builds, on a CPU machine, what bench/gpu-check.sh needs on a lent GPU machine (which has no JDK and
# no network), into the git-ignored folder .gpu-bundle/ (name it in the device tool's `carry`):
#   jre.tgz    a jlinked Java 25 runtime (java.base, jdk.incubator.vector, java.logging,
#              java.management, jdk.unsupported, java.naming, java.xml)
#   lib/       only the jars the check runs: the model jar and its runtime needs (Jackson, SLF4J,
#              Logback), the model's test classes, AssertJ, the JUnit console launcher (standalone,
#              from Maven Central), and gpu-bench.jar (GpuBench + BenchModels, compiled here alone so
#              the bench module's Kafka dependencies stay behind)
#   BUNDLE.txt what went in, from which commit, and the sizes
# Everything that travels (working tree + carried paths) must stay under 64 MiB: the script fails if
# the bundle exceeds 48 MiB.
# Usage: bench/make-gpu-bundle.sh [--no-build]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bin/find-jdk.sh"
BUILD=1
[ "${1:-}" = "--no-build" ] && BUILD=0
B="$ROOT/.gpu-bundle"
JUNIT_CONSOLE=org.junit.platform:junit-platform-console-standalone:1.14.1
cd "$ROOT"
if [ "$BUILD" = 1 ]; then
  ./mvnw -B -q -pl model install -DskipTests
  ./mvnw -B -q -pl model test-compile
fi
rm -rf "$B"
mkdir -p "$B/lib" "$B/tmp"

# the model's runtime classpath, then only the jars the GPU check loads
./mvnw -B -q -o -pl model dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$B/tmp/cp.txt" >/dev/null
for j in $(tr ':' '\n' < "$B/tmp/cp.txt"); do
  case "$(basename "$j")" in
    jackson-core-*|jackson-databind-*|jackson-annotations-*|slf4j-api-*|logback-classic-*|logback-core-*|assertj-core-*)
      cp "$j" "$B/lib/" ;;
  esac
done
cp "$ROOT/model/target/prefstream-model-0.1.0-SNAPSHOT.jar" "$B/lib/"
"$JAVA_HOME/bin/jar" --create --file "$B/lib/prefstream-model-tests.jar" -C "$ROOT/model/target/test-classes" .
./mvnw -B -q dependency:copy -Dartifact=$JUNIT_CONSOLE -DoutputDirectory="$B/lib" >/dev/null

# GpuBench and BenchModels only, against the model jar
mkdir -p "$B/tmp/bench-classes"
"$JAVA_HOME/bin/javac" --release 25 --add-modules jdk.incubator.vector -d "$B/tmp/bench-classes" \
  -cp "$(tr ':' '\n' < "$B/tmp/cp.txt" | grep -v '/test-classes' | paste -sd:):$ROOT/model/target/prefstream-model-0.1.0-SNAPSHOT.jar" \
  "$ROOT/bench/src/main/java/io/prefstream/bench/BenchModels.java" "$ROOT"/bench/src/main/java/io/prefstream/bench/gpu/*.java
"$JAVA_HOME/bin/jar" --create --file "$B/lib/gpu-bench.jar" -C "$B/tmp/bench-classes" .

# the runtime: jlink from the JDK's own image, compressed for the trip
"$JAVA_HOME/bin/jlink" --add-modules java.base,jdk.incubator.vector,java.logging,java.management,jdk.unsupported,java.naming,java.xml \
  --strip-debug --no-man-pages --no-header-files --compress=zip-6 --output "$B/tmp/jre"
tar -C "$B/tmp" -czf "$B/jre.tgz" jre
rm -rf "$B/tmp"

{
  echo "prefstream GPU bundle, built $(date -u +%Y-%m-%dT%H:%M:%SZ) from commit $(git -C "$ROOT" rev-parse --short HEAD)"
  echo "JDK: $("$JAVA_HOME/bin/java" -version 2>&1 | head -1)"
  (cd "$B" && du -b jre.tgz lib/*.jar)
  echo "total bytes: $(du -sb "$B" | cut -f1)"
} > "$B/BUNDLE.txt"
cat "$B/BUNDLE.txt"
TOTAL=$(du -sb "$B" | cut -f1)
if [ "$TOTAL" -gt $((48 * 1024 * 1024)) ]; then
  echo "bundle is $TOTAL bytes, over the 48 MiB this script allows (64 MiB travel in all, the tree included)" >&2
  exit 1
fi
