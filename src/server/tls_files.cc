#include "server/tls_files.h"

#include <fcntl.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "log/log.h"

namespace server {
namespace {

namespace fs = std::filesystem;

constexpr auto kSettle = std::chrono::seconds(1);  // unchanged this long before a reload
constexpr unsigned kWatchSeconds = 1;              // how often gRPC re-reads the copies

absl::Status write_file(const fs::path& path, const std::string& data, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return absl::InternalError(path.string() + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      ::close(fd);
      return absl::InternalError(path.string() + ": " + std::strerror(e));
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return absl::InternalError(path.string() + ": " + std::strerror(errno));
  return absl::OkStatus();
}

const char* port_name(TlsPort port) { return port == TlsPort::kPeer ? "peer" : "client"; }

}  // namespace

absl::StatusOr<std::unique_ptr<TlsFiles>> TlsFiles::create(const TlsFlags& flags, TlsPort port,
                                                           TlsPem first, std::string dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError("cannot create " + dir + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, ec);  // the copies include the private key
  std::unique_ptr<TlsFiles> t(new TlsFiles(flags, port, first, std::move(dir)));
  if (absl::Status s = t->install(first); !s.ok()) return s;
  const fs::path live = fs::path(t->dir_) / "live";
  t->provider_ = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      (live / "key.pem").string(), (live / "cert.pem").string(),
      t->has_ca_ ? (live / "ca.pem").string() : std::string(), kWatchSeconds);
  return t;
}

TlsFiles::TlsFiles(const TlsFlags& flags, TlsPort port, const TlsPem& first, std::string dir)
    : flags_(flags),
      port_(port),
      client_cert_auth_(first.client_cert_auth),
      has_ca_(!first.ca.empty()),
      dir_(std::move(dir)) {
  in_force_ = seen_ = stamps();
  seen_at_ = Clock::now();
}

TlsFiles::~TlsFiles() {
  provider_.reset();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::shared_ptr<grpc::ServerCredentials> TlsFiles::server_credentials() const {
  grpc::experimental::TlsServerCredentialsOptions o(provider_);
  o.watch_identity_key_cert_pairs();
  if (client_cert_auth_) {
    o.watch_root_certs();
    o.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    o.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(o);
}

std::shared_ptr<grpc::ChannelCredentials> TlsFiles::channel_credentials() const {
  grpc::experimental::TlsChannelCredentialsOptions o;
  o.set_certificate_provider(provider_);
  o.watch_identity_key_cert_pairs();
  if (has_ca_) o.watch_root_certs();  // else the system's roots
  o.set_certificate_verifier(std::make_shared<grpc::experimental::HostNameCertificateVerifier>());
  return grpc::experimental::TlsCredentials(o);
}

std::shared_ptr<const TlsPem> TlsFiles::in_force() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pem_in_force_;
}

uint64_t TlsFiles::generation() const {
  std::lock_guard<std::mutex> lock(mu_);
  return generation_;
}

TlsFiles::Stamps TlsFiles::stamps() const {
  auto stamp = [](const std::string& path) -> Stamp {
    struct stat st {};
    if (path.empty() || ::stat(path.c_str(), &st) != 0) return {0, 0, 0, 0};
    return {static_cast<int64_t>(st.st_ino), static_cast<int64_t>(st.st_size),
            static_cast<int64_t>(st.st_mtim.tv_sec), static_cast<int64_t>(st.st_mtim.tv_nsec)};
  };
  return {stamp(flags_.cert_file), stamp(flags_.key_file), stamp(flags_.trusted_ca_file)};
}

absl::Status TlsFiles::install(const TlsPem& pem) {
  const uint64_t generation = this->generation() + 1;
  const std::string gen = "gen-" + std::to_string(generation);
  const fs::path dir(dir_);
  std::error_code ec;
  fs::create_directory(dir / gen, ec);
  if (ec) return absl::InternalError("cannot create " + (dir / gen).string() + ": " + ec.message());
  if (absl::Status s = write_file(dir / gen / "cert.pem", pem.cert, 0600); !s.ok()) return s;
  if (absl::Status s = write_file(dir / gen / "key.pem", pem.key, 0600); !s.ok()) return s;
  if (has_ca_) {
    if (absl::Status s = write_file(dir / gen / "ca.pem", pem.ca, 0600); !s.ok()) return s;
  }
  // The switch is one rename of a symlink: gRPC reads the old set or the new one whole.
  const fs::path tmp = dir / ("live." + gen);
  fs::create_directory_symlink(gen, tmp, ec);
  if (!ec) fs::rename(tmp, dir / "live", ec);
  if (ec)
    return absl::InternalError("cannot switch " + (dir / "live").string() + ": " + ec.message());
  {
    std::lock_guard<std::mutex> lock(mu_);
    pem_in_force_ = std::make_shared<const TlsPem>(pem);
    generation_ = generation;
  }
  // The set before the last may still be being read; the one before that is not.
  if (generation > 2) fs::remove_all(dir / ("gen-" + std::to_string(generation - 2)), ec);
  return absl::OkStatus();
}

void TlsFiles::check(bool force, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(check_mu_);
  const Stamps current = stamps();
  if (current != seen_) {
    seen_ = current;
    seen_at_ = now;
  }
  if (!force && (seen_ == in_force_ || now - seen_at_ < kSettle)) return;
  in_force_ = seen_;  // a refused set is not tried again until it changes
  absl::StatusOr<TlsPem> pem = load_tls(flags_, port_);
  if (!pem.ok()) {
    raftlog::warn("server", "refused new TLS files; the ones in force stay",
                  {{"port", port_name(port_)}, {"error", std::string(pem.status().message())}});
    return;
  }
  if (absl::Status s = install(*pem); !s.ok()) {
    raftlog::error("server", "cannot install new TLS files; the ones in force stay",
                   {{"port", port_name(port_)}, {"error", std::string(s.message())}});
    return;
  }
  raftlog::info("server", "reloaded TLS files",
                {{"port", port_name(port_)},
                 {"cert-file", flags_.cert_file},
                 {"key-file", flags_.key_file},
                 {"trusted-ca-file", flags_.trusted_ca_file}});
}

}  // namespace server
