// A port's TLS files, re-read while the member runs so that certificates can be rotated
// without a restart: when the files named by the flags change on disk (and then stay
// unchanged for a second, so that a rotation in several steps is seen whole), or on
// SIGHUP, they are checked as at start (load_tls). A good set is handed to gRPC through
// copies under a directory of the member's own, which gRPC's file watcher re-reads every
// second; new connections then get it. A bad set is refused with a log line naming the
// flag, the file and the reason, and the set in force stays.
#pragma once

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <sys/types.h>

#include <array>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "server/tls.h"

namespace server {

class TlsFiles {
 public:
  using Clock = std::chrono::steady_clock;

  // `first` is what load_tls made of `flags` at start; `dir` (created, emptied) holds the
  // copies gRPC reads.
  static absl::StatusOr<std::unique_ptr<TlsFiles>> create(const TlsFlags& flags, TlsPort port,
                                                          TlsPem first, std::string dir);
  ~TlsFiles();

  // Credentials that follow the set in force: for the port's listener, and for this
  // member's own calls to other members on such a port.
  std::shared_ptr<grpc::ServerCredentials> server_credentials() const;
  std::shared_ptr<grpc::ChannelCredentials> channel_credentials() const;

  // The set in force, and a number that changes whenever it does (for listeners that
  // build their own TLS context from it: the metrics port).
  std::shared_ptr<const TlsPem> in_force() const;
  uint64_t generation() const;

  // Looks at the files: once they changed and have stayed unchanged for a second (at
  // once with `force`), loads them and installs them if good. Any thread.
  void check(bool force, Clock::time_point now = Clock::now());

 private:
  // What says a file changed: inode, size and modification time; zero when missing.
  using Stamp = std::array<int64_t, 4>;
  using Stamps = std::array<Stamp, 3>;  // cert, key, ca

  TlsFiles(const TlsFlags& flags, TlsPort port, const TlsPem& first, std::string dir);
  Stamps stamps() const;
  absl::Status install(const TlsPem& pem);

  const TlsFlags flags_;
  const TlsPort port_;
  const bool client_cert_auth_;
  const bool has_ca_;
  const std::string dir_;
  std::shared_ptr<grpc::experimental::FileWatcherCertificateProvider> provider_;
  // check_mu_ serializes the looks and is held across their file I/O; mu_ guards only
  // what readers of the set in force see, and is never held across I/O.
  std::mutex check_mu_;
  Stamps in_force_;            // of the files last installed (or refused); by check_mu_
  Stamps seen_;                // the last look's; guarded by check_mu_
  Clock::time_point seen_at_;  // when seen_ last changed; guarded by check_mu_
  mutable std::mutex mu_;
  std::shared_ptr<const TlsPem> pem_in_force_;  // guarded by mu_
  uint64_t generation_ = 0;                     // guarded by mu_
};

}  // namespace server
