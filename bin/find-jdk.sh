# Sourced by ./prefstream and .ci/run: sets JAVA_HOME to a JDK >= 25 or exits with a clear message.
# Order: JAVA_HOME if it is new enough, then the usual JVM folders, then java on the PATH.
_prefstream_jdk_major() {
  "$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9][0-9]*\).*/\1/p' | head -1
}
_prefstream_find_jdk() {
  local c m
  for c in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*25* /usr/lib/jvm/*2[6-9]* /usr/lib/jvm/* /opt/java/* /opt/jdk* \
           "$(dirname "$(dirname "$(readlink -f "$(command -v javac 2>/dev/null || echo /nonexistent)")")")"; do
    [ -n "$c" ] && [ -x "$c/bin/javac" ] || continue
    m=$(_prefstream_jdk_major "$c")
    if [ -n "$m" ] && [ "$m" -ge 25 ]; then JAVA_HOME=$c; return 0; fi
  done
  return 1
}
if ! _prefstream_find_jdk; then
  echo "prefstream needs a JDK 25 or newer (with javac) and found none." >&2
  if [ -n "${JAVA_HOME:-}" ]; then
    if [ -x "$JAVA_HOME/bin/java" ]; then
      echo "JAVA_HOME=$JAVA_HOME is Java $(_prefstream_jdk_major "$JAVA_HOME")$([ -x "$JAVA_HOME/bin/javac" ] || echo ' without javac')." >&2
    else
      echo "JAVA_HOME=$JAVA_HOME has no bin/java." >&2
    fi
  fi
  echo "Set JAVA_HOME to one, or install one (for example Temurin 25 under /usr/lib/jvm)." >&2
  exit 1
fi
export JAVA_HOME
