#!/usr/bin/env bash
# Starts a 3-node raftkv cluster on 127.0.0.1 (clients 2379, 22379, 32379; peers 2380,
# 22380, 32380; /metrics and /health on 2381, 22381, 32381), data in
# ./raftkv-data/n1..n3, and stops all three on Ctrl-C.
# Usage: scripts/run-cluster.sh [BIN_DIR]
set -euo pipefail
BIN=${1:-build/bin}
DATA=${RAFTKV_DATA:-./raftkv-data}
CLUSTER="n1=http://127.0.0.1:2380,n2=http://127.0.0.1:22380,n3=http://127.0.0.1:32380"
CLIENT_PORTS=(2379 22379 32379)
PEER_PORTS=(2380 22380 32380)
METRICS_PORTS=(2381 22381 32381)
PIDS=()

stop_all() {
  trap - INT TERM EXIT
  echo
  echo "stopping raftkv (pids ${PIDS[*]})"
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}
trap stop_all INT TERM EXIT

mkdir -p "$DATA"
for i in 0 1 2; do
  n=$((i + 1))
  "$BIN/raftkv" --name "n$n" --data-dir "$DATA/n$n" \
    --listen-client-urls "http://127.0.0.1:${CLIENT_PORTS[$i]}" \
    --listen-peer-urls "http://127.0.0.1:${PEER_PORTS[$i]}" \
    --listen-metrics-urls "http://127.0.0.1:${METRICS_PORTS[$i]}" \
    --initial-cluster "$CLUSTER" >"$DATA/n$n.log" 2>&1 &
  PIDS+=($!)
done

ENDPOINTS=127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379
# Wait (at most 10 s) until every member has published its client URL and answers.
for _ in $(seq 1 100); do
  if "$BIN/raftkvctl" --endpoints "$ENDPOINTS" --timeout 500 status -o json 2>/dev/null |
    grep -q '"reachable":true' &&
    ! "$BIN/raftkvctl" --endpoints "$ENDPOINTS" --timeout 500 status -o json 2>/dev/null |
    grep -q '"reachable":false'; then
    break
  fi
  sleep 0.1
done
"$BIN/raftkvctl" --endpoints "$ENDPOINTS" status || true
cat <<MSG

raftkv is running: 3 nodes, logs in $DATA/n*.log. Try:
  ETCDCTL_API=3 etcdctl --endpoints=$ENDPOINTS put greeting hello
  ETCDCTL_API=3 etcdctl --endpoints=$ENDPOINTS get greeting
  ETCDCTL_API=3 etcdctl --endpoints=$ENDPOINTS endpoint status -w table
  $BIN/raftkvctl --endpoints $ENDPOINTS status
  curl 127.0.0.1:2381/health; curl 127.0.0.1:2381/metrics
  $BIN/raftkvctl --endpoints $ENDPOINTS timeouts set --heartbeat 50 --election-min 500 --election-max 1000
Ctrl-C stops all three.
MSG
wait
