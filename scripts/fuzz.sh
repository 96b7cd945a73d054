#!/usr/bin/env bash
# make fuzz: builds the libFuzzer targets of tests/fuzz with clang-14 in build-fuzz and runs
# each for a number of seconds, one after the other, printing per target its executions and
# coverage. Usage: scripts/fuzz.sh [seconds per target (60)] [target ...]
# FUZZ_FLAGS adds libFuzzer flags: "-fork=1 -ignore_crashes=1 -ignore_timeouts=1" keeps a
# target running past known findings (each is still saved as an artifact).
#
# Each target starts from its seed corpus tests/fuzz/corpus/<name>/ (without the reproducers
# of known findings, crash-*, which would stop it at once: the replay tests keep those) and
# writes the inputs it finds to build-fuzz/corpus/<name>/, never to the repository. A crash,
# a broken property or a timeout is saved as build-fuzz/artifacts/<name>-crash-... (or
# -timeout-...) and makes this script fail at the end. Replay one with: build-fuzz/bin/<name>_fuzz <file>.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(casbin_model casbin_policy enforcer auth_store peer_codec wal_segment snapshot_file kv_restore
    url request_validator config_file initial_cluster)
fi
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=${JOBS:-1}

# -O1 with assertions: libFuzzer's usual trade between speed and catching bugs.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" \
  -DCMAKE_CXX_COMPILER=clang++-14 -DRAFTKV_FUZZ=ON >/dev/null
cmake --build "$build" -j "$jobs" --target "${targets[@]/%/_fuzz}"

mkdir -p "$build/artifacts" "$build/logs"
started="$build/logs/.started"  # artifacts newer than this are this run's
touch "$started"
summary=()
failed=0
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t"
  rm -rf "$build/seeds/$t" && mkdir -p "$build/seeds/$t"
  find "$root/tests/fuzz/corpus/$t" -maxdepth 1 -type f ! -name 'crash-*' -exec cp {} "$build/seeds/$t/" \;
  # A target's own dictionary, tests/fuzz/<name>.dict, or the Casbin one for the Casbin targets.
  dict=()
  case "$t" in casbin_model | casbin_policy | enforcer) dict=(-dict="$root/tests/fuzz/casbin.dict") ;; esac
  if [ -f "$root/tests/fuzz/$t.dict" ]; then dict=(-dict="$root/tests/fuzz/$t.dict"); fi
  log="$build/logs/$t.log"
  echo "fuzzing $t for ${seconds}s (log: $log)"
  status=ok
  # -timeout: an input that runs 25 s is a finding (a regex that backtracks, a loop);
  # -max_len keeps every input small enough to keep as a seed.
  if ! "$build/bin/${t}_fuzz" -max_total_time="$seconds" -print_final_stats=1 -timeout=25 \
    -rss_limit_mb=2048 -max_len=4096 "${dict[@]}" ${FUZZ_FLAGS:-} -artifact_prefix="$build/artifacts/$t-" \
    "$build/corpus/$t" "$build/seeds/$t" >"$log" 2>&1; then
    status=FAILED
    failed=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  # libFuzzer's last status line: "#<n> <event> cov: <edges> ft: <features> corp: <units>/<size> ..."
  # (in fork mode "#<n>: cov: ... corp: <units> ...", and no final stats: n is the executions).
  last=$(grep -E '^#[0-9]+.* cov: ' "$log" | tail -1 || true)
  [ -z "$execs" ] && execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\(\/[0-9a-zA-Z]*\)\{0,1\}\).*/\1/p' <<<"$last")
  summary+=("$(printf '%-14s %-7s execs %-10s exec/s %-7s cov %-6s ft %-7s corpus %s' \
    "$t" "$status" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")")
  if [ "$status" = FAILED ]; then
    grep -E 'fuzz property broken|ERROR: (AddressSanitizer|libFuzzer|UndefinedBehavior)|SUMMARY|runtime error' \
      "$log" | head -5 | sed 's/^/    /'
    find "$build/artifacts" -name "$t-*" -newer "$started" | head -5 | sed 's/^/    artifact: /'
  fi
done
echo
echo "fuzzing summary (${seconds}s per target):"
printf '  %s\n' "${summary[@]}"
exit $failed
