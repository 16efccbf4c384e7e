#!/usr/bin/env bash
# Builds the self-contained distribution from the deploy module's package output (run by the `dist`
# Maven profile, in the package phase, after target/prefstream.jar and target/lib exist). Leaves:
#   target/dist/prefstream-<version>/          the unpacked distribution (also the container image's /opt/prefstream)
#   target/prefstream-<version>-linux-x64.tar.gz
#   target/dist/sysroot/                       the system libraries the runtime's native code needs (image only)
# Usage: make-dist.sh TARGET_DIR VERSION MODULES
#   MODULES  comma-separated JDK modules of the runtime (deploy/pom.xml's prefstream.runtime.modules)
set -euo pipefail
target=$1 version=$2 modules=$3
src=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$src/../../.." && pwd)
# shellcheck source=../../../bin/find-jdk.sh
. "$root/bin/find-jdk.sh"
name=prefstream-$version
dist=$target/dist/$name
rm -rf "$target/dist" "$target/$name-linux-x64.tar.gz"
mkdir -p "$target/dist"
# The Java runtime holds only the modules the code uses (see prefstream.runtime.modules for how they
# were found), without debug symbols, man pages or headers. JDK 25 links from its own run-time image
# (JEP 493) when it ships no jmods, as Temurin 25 does. jlink's own incubator warning is dropped.
"$JAVA_HOME/bin/jlink" --add-modules "$modules" --strip-debug --no-man-pages --no-header-files \
  --compress zip-6 --output "$dist/runtime" 2>&1 | { grep -v -x "WARNING: Using incubator modules: jdk.incubator.vector" || true; }
mkdir -p "$dist/lib" "$dist/conf" "$dist/models"

cp "$target/prefstream.jar" "$target"/lib/*.jar "$dist/lib/"
cp "$src/prefstream" "$dist/prefstream"
chmod 755 "$dist/prefstream"
cp "$src/conf/prefstream.properties" "$dist/conf/"
cp "$target/jvm.flags" "$dist/conf/jvm.flags"
cp -r "$root/models/assistant-tiny" "$dist/models/"
rm -f "$dist/models/assistant-tiny/build.sh"
cp "$root/README.md" "$dist/README.md"
cp -r "$root/docs" "$dist/docs"

# Owner-independent, reproducible-ish archive: fixed owner, sorted names.
tar --sort=name --owner=0 --group=0 --numeric-owner -C "$target/dist" -czf "$target/$name-linux-x64.tar.gz" "$name"

# The container image is FROM scratch: it gets the runtime plus the few system libraries that the
# JVM (glibc) and the bundled native code (DJL tokenizers, RocksDB, zstd, snappy, lz4: libstdc++ and
# libgcc_s) link against, copied from the build machine with their symlinks resolved.
sys=$target/dist/sysroot
# /var/lib/prefstream and its usual subfolders are world-writable in the image: a named volume mounted
# there starts as a copy of them (Docker), so the non-root user can write checkpoints and state.
mkdir -p "$sys/lib/x86_64-linux-gnu" "$sys/lib64" "$sys/etc" "$sys/tmp" \
  "$sys/var/lib/prefstream/checkpoints" "$sys/var/lib/prefstream/kafka" "$sys/var/lib/prefstream/ingest-state"
for lib in libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libstdc++.so.6 libgcc_s.so.1 libz.so.1; do
  found=
  for d in /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /lib64 /usr/lib64; do
    if [ -e "$d/$lib" ]; then cp -L "$d/$lib" "$sys/lib/x86_64-linux-gnu/$lib"; found=1; break; fi
  done
  [ -n "$found" ] || { echo "make-dist: $lib not found on this machine; the image needs it" >&2; exit 1; }
done
cp -L /lib64/ld-linux-x86-64.so.2 "$sys/lib64/ld-linux-x86-64.so.2"
# A passwd entry so that the JVM finds a user name and home for the non-root uid the image runs as.
printf 'root:x:0:0:root:/root:/sbin/nologin\nprefstream:x:65532:65532:prefstream:/var/lib/prefstream:/sbin/nologin\n' > "$sys/etc/passwd"
printf 'root:x:0:\nprefstream:x:65532:\n' > "$sys/etc/group"
echo "make-dist: $target/$name-linux-x64.tar.gz ($(du -m "$target/$name-linux-x64.tar.gz" | cut -f1) MB)"
