#!/usr/bin/env bash
# Installs the Debian bookworm packages raftkv needs to build and test.
# Idempotent: it asks dpkg first and runs apt-get only when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential
  cmake
  ninja-build
  g++
  clang-14
  # libFuzzer and clang's sanitizer runtimes, for make fuzz.
  libclang-rt-14-dev
  clang-format-14
  libgtest-dev
  libgmock-dev
  libbenchmark-dev
  librapidcheck-dev
  libxxhash-dev
  # The server (issue 6): gRPC, protobuf, logging, flags, config.
  libgrpc++-dev
  libprotobuf-dev
  protobuf-compiler
  protobuf-compiler-grpc
  libabsl-dev
  libspdlog-dev
  libcli11-dev
  libtomlplusplus-dev
  libcpp-httplib-dev
  libcrypt-dev
  libjwt-dev
  libre2-dev
  pkg-config
  # etcd's own tools, for the compatibility tests and the side-by-side benchmark.
  etcd-client
  etcd-server
  python3-etcd3
  python3-grpcio
  python3-protobuf
  # Observability (issue 13): promtool and a real Prometheus for the metrics tests, the
  # status page's chart library (served by the server), headless Chromium for its test.
  prometheus
  libjs-chart.js
  chromium
  # Chaos testing (issue 18, tests/chaos): network namespaces, nft and tc faults, wall
  # clock skew, etcd's own Go client built offline from Debian's sources, and gdb for the
  # stacks of a member that did not stop when it should have.
  iproute2
  nftables
  util-linux
  faketime
  libfaketime
  golang-go
  golang-etcd-server-dev
  gdb
  # The library and the package (issue 20): systemd readiness (sd_notify), man pages from
  # --help, the API reference (make docs).
  libsystemd-dev
  help2man
  doxygen
  # Profiles of the runtime (issue 19, make bench-profile): perf stat, perf sched.
  linux-perf
  # The server's allocator (issue 19): gperftools' tcmalloc_minimal, linked into raftkv.
  libgoogle-perftools-dev
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"
