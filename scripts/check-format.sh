#!/usr/bin/env bash
# Fails (exit 1) and names the files that clang-format would change.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find src tests examples -type f \( -name '*.h' -o -name '*.cc' \) 2>/dev/null | sort)
bad=0
for f in "${files[@]}"; do
  if ! clang-format-14 --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f (run: make format)"
    bad=1
  fi
done
echo "checked ${#files[@]} files"
exit $bad
