#!/usr/bin/env bash
# Fails (exit 1) and names the files under src/, tests/ and examples/ that
# clang-format would change. An optional argument names another tree to check.
set -euo pipefail
root="${1:-$(dirname "$0")/..}"
cd "$root"
formatter=$(command -v clang-format-14 || command -v clang-format)
mapfile -t files < <(find src tests examples -type f \( -name '*.h' -o -name '*.cc' \) 2>/dev/null | sort)
bad=0
for f in "${files[@]}"; do
  if ! "$formatter" --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f (run: make format)"
    bad=1
  fi
done
echo "checked ${#files[@]} files"
exit $bad
