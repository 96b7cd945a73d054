#include "server/member_identity.h"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "etcd/rpc.pb.h"
#include "raftkv/peer.grpc.pb.h"
#include "security/url.h"

namespace server {
namespace {

constexpr char kFile[] = "member";

std::string hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

// "key=<16 hex digits>" -> the value, or nothing.
std::optional<uint64_t> field(const std::string& line, const std::string& key) {
  if (line.rfind(key + "=", 0) != 0) return std::nullopt;
  const std::string digits = line.substr(key.size() + 1);
  if (digits.size() != 16 || digits.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return std::nullopt;
  }
  return std::stoull(digits, nullptr, 16);
}

absl::Status sync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(path + ": " + std::strerror(errno));
  const int r = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (r != 0) return absl::InternalError("fsync " + path + ": " + std::strerror(err));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::optional<MemberIdentity>> read_identity(const std::string& data_dir) {
  const std::string path = data_dir + "/" + kFile;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<MemberIdentity>();
  std::ifstream in(path);
  if (!in.is_open()) return absl::DataLossError(path + ": " + std::strerror(errno));
  std::string a, b, extra;
  std::getline(in, a);
  std::getline(in, b);
  std::getline(in, extra);
  const std::optional<uint64_t> member = field(a, "member-id");
  const std::optional<uint64_t> cluster = field(b, "cluster-id");
  if (!member || !cluster || *member == 0 || *cluster == 0 || !extra.empty() || !in.eof()) {
    return absl::DataLossError(path +
                               ": not a member identity file (want the lines member-id=<16 hex "
                               "digits> and cluster-id=<16 hex digits>, ids not 0)");
  }
  return std::optional<MemberIdentity>(
      MemberIdentity{.member_id = *member, .cluster_id = *cluster});
}

absl::Status write_identity(const std::string& data_dir, const MemberIdentity& identity) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return absl::InternalError(data_dir + ": " + ec.message());
  const std::string path = data_dir + "/" + kFile, tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "member-id=" << hex(identity.member_id) << "\n"
        << "cluster-id=" << hex(identity.cluster_id) << "\n";
    out.close();
    if (!out) return absl::InternalError(tmp + ": cannot write");
  }
  if (absl::Status s = sync_path(tmp, O_RDONLY); !s.ok()) return s;
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError("rename " + tmp + ": " + std::strerror(errno));
  }
  return sync_path(data_dir, O_RDONLY | O_DIRECTORY);
}

bool is_new_data_dir(const std::string& data_dir) {
  std::error_code ec;
  if (!std::filesystem::exists(data_dir, ec)) return true;
  for (const auto& entry : std::filesystem::directory_iterator(data_dir, ec)) {
    if (entry.path().filename() != "tls") return false;
  }
  return true;
}

absl::StatusOr<ClusterInfo> fetch_cluster_info(const std::vector<std::string>& peer_urls,
                                               const std::string& self_peer_url,
                                               std::shared_ptr<grpc::ChannelCredentials> tls,
                                               std::chrono::milliseconds timeout) {
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  std::vector<std::string> errors(peer_urls.size());
  for (int round = 0;; ++round) {
    for (size_t i = 0; i < peer_urls.size(); ++i) {
      absl::StatusOr<security::Url> url = security::parse_url(peer_urls[i]);
      if (!url.ok()) {
        errors[i] = std::string(url.status().message());
        continue;
      }
      std::shared_ptr<grpc::ChannelCredentials> creds =
          url->scheme == "https" ? (tls != nullptr ? tls : grpc::SslCredentials({}))
                                 : grpc::InsecureChannelCredentials();
      auto stub = raftkv::peer::Peer::NewStub(grpc::CreateChannel(url->host_port(), creds));
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
      raftkv::peer::ClusterInfoResponse resp;
      const grpc::Status s = stub->ClusterInfo(&ctx, raftkv::peer::ClusterInfoRequest(), &resp);
      etcdserverpb::MemberListResponse list;
      if (!s.ok()) {
        errors[i] = s.error_message();
        continue;
      }
      if (!list.ParseFromString(resp.payload()) || list.header().cluster_id() == 0) {
        errors[i] = "the answer is not a member list";
        continue;
      }
      ClusterInfo info;
      info.identity.cluster_id = list.header().cluster_id();
      for (const etcdserverpb::Member& m : list.members()) {
        info.members.push_back({.id = m.id(),
                                .name = m.name(),
                                .peer_urls = {m.peerurls().begin(), m.peerurls().end()}});
        for (const std::string& u : m.peerurls()) {
          if (u == self_peer_url) info.identity.member_id = m.id();
        }
      }
      if (info.identity.member_id == 0) {
        return absl::FailedPreconditionError(
            "the cluster (asked at " + peer_urls[i] + ") has no member with the peer URL " +
            self_peer_url + ": add it with MemberAdd (etcdctl member add) before starting it");
      }
      return info;
    }
    if (std::chrono::steady_clock::now() >= give_up) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // between rounds
  }
  std::string why;
  for (size_t i = 0; i < peer_urls.size(); ++i) {
    why += (why.empty() ? "" : "; ") + peer_urls[i] + ": " + errors[i];
  }
  if (peer_urls.empty()) why = "--initial-cluster names no other member";
  return absl::UnavailableError("cannot fetch cluster info from peer urls (" + why + ")");
}

}  // namespace server
