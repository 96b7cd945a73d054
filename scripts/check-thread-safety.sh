#!/usr/bin/env bash
# Clang's thread-safety analysis over the code that shares state between threads: every
# member marked ABSL_GUARDED_BY must be touched with its mutex held, every function
# marked ABSL_EXCLUSIVE_LOCKS_REQUIRED called with it. g++ ignores the annotations; this
# makes them checked. Usage: check-thread-safety.sh <build dir> [files...] (default: the
# runtime, src/node, and the server's threads).
set -euo pipefail
build="$1"
shift
cd "$(dirname "$0")/.."
compiler=$(command -v clang++-14 || command -v clang++)
if [ $# -eq 0 ]; then
  set -- src/node/*.cc src/server/watch_service.cc src/server/server.cc
fi
bad=0
for f in "$@"; do
  if ! out=$("$compiler" -std=c++20 -fsyntax-only -Wthread-safety -Wthread-safety-beta \
      -Werror=thread-safety -Wno-unknown-warning-option -Isrc -I"$build/src/server/generated" \
      -I"$build/generated" \
      -isystem "$build/proto" "$f" 2>&1); then
    echo "$out" | grep -E "error|warning" | head -20
    echo "thread-safety: $f"
    bad=1
  fi
done
echo "analysed $# files"
exit $bad
