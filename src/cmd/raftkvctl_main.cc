// raftkvctl: the administration CLI of a raftkv cluster. Members (etcd's Cluster API),
// leadership transfer, timeouts and status (raftkv.Admin), and put/get/del for
// convenience. Human tables by default, -o json for scripts. Exit status: 0 on success,
// 1 when the cluster refused or could not be reached, 2 on bad usage (command_line.h).
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cmd/client_auth.h"
#include "cmd/client_tls.h"
#include "cmd/command_line.h"
#include "etcd/rpc.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "limits/limits_config.h"
#include "log/log.h"
#include "raftkv/admin.grpc.pb.h"
#include "server/limits_proto.h"

namespace {

namespace pb = etcdserverpb;
namespace ad = raftkv::admin;

struct Options {
  std::string endpoints = "127.0.0.1:2379";
  std::string output = "table";
  int timeout_ms = 5000;
  raftkv::cmd::ClientTlsFlags tls;
  std::shared_ptr<grpc::ChannelCredentials> creds;  // from `tls` and the endpoints
  raftkv::cmd::ClientAuthFlags auth;                // --user, --password
  std::string token;  // from Authenticate, sent with every call once --user is given
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, sep);) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

std::string address(std::string url) {
  for (const char* scheme : {"http://", "https://"}) {
    if (url.rfind(scheme, 0) == 0) url = url.substr(std::string(scheme).size());
  }
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

std::string hex(uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(id));
  return buf;
}

std::string json_string(const std::string& s) { return raftlog::json_string(s); }

std::string json_list(const google::protobuf::RepeatedPtrField<std::string>& v) {
  std::string out = "[";
  for (int i = 0; i < v.size(); ++i) out += (i ? "," : "") + json_string(v[i]);
  return out + "]";
}

std::string join(const google::protobuf::RepeatedPtrField<std::string>& v) {
  std::string out;
  for (int i = 0; i < v.size(); ++i) out += (i ? "," : "") + v[i];
  return out;
}

void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(header.size());
  for (size_t i = 0; i < header.size(); ++i) w[i] = header[i].size();
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
  }
  auto line = [&](const std::vector<std::string>& r) {
    for (size_t i = 0; i < r.size(); ++i) {
      std::printf("%-*s%s", static_cast<int>(w[i]), r[i].c_str(), i + 1 < r.size() ? "  " : "\n");
    }
  };
  line(header);
  for (const auto& r : rows) line(r);
}

class Client {
 public:
  explicit Client(const Options& o) : o_(o) {
    for (const std::string& e : split(o.endpoints, ',')) endpoints_.push_back(address(e));
  }

  // Calls `rpc` on each endpoint until one answers something other than UNAVAILABLE.
  template <typename Stub, typename Req, typename Resp, typename Method>
  grpc::Status call(Method method, const Req& req, Resp* resp) {
    grpc::Status last(grpc::StatusCode::UNAVAILABLE, "no endpoint given");
    for (const std::string& ep : endpoints_) {
      auto stub = Stub::NewStub(grpc::CreateChannel(ep, o_.creds));
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(o_.timeout_ms));
      if (!o_.token.empty()) ctx.AddMetadata("token", o_.token);
      last = ((*stub).*method)(&ctx, req, resp);
      if (last.error_code() != grpc::StatusCode::UNAVAILABLE &&
          last.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
        return last;
      }
    }
    return last;
  }

  // One endpoint only (status asks every member itself).
  template <typename Stub, typename Req, typename Resp, typename Method>
  grpc::Status call_at(const std::string& ep, Method method, const Req& req, Resp* resp,
                       int timeout_ms) {
    auto stub = Stub::NewStub(grpc::CreateChannel(ep, o_.creds));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
    if (!o_.token.empty()) ctx.AddMetadata("token", o_.token);
    return ((*stub).*method)(&ctx, req, resp);
  }

 private:
  const Options& o_;
  std::vector<std::string> endpoints_;
};

int failed(const grpc::Status& s) {
  std::cerr << "Error: " << s.error_message() << std::endl;
  return 1;
}

int usage(const std::string& message) {
  std::cerr << "Error: " << message << std::endl;
  return raftkv::cmd::kUsageError;
}

bool parse_id(const std::string& text, uint64_t* id) {
  if (text.empty() || text.size() > 16) return false;
  for (char c : text) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  *id = std::stoull(text, nullptr, 16);
  return *id != 0;
}

// The member ID argument `text` in *id, or false after a usage error naming it.
bool member_id_argument(const std::string& text, uint64_t* id) {
  if (parse_id(text, id)) return true;
  usage("member ID \"" + text + "\" is not a non-zero hexadecimal number");
  return false;
}

// The smallest key after every key that starts with `k` (etcd's prefix range end).
std::string prefix_end(std::string k) {
  while (!k.empty()) {
    if (static_cast<unsigned char>(k.back()) < 0xff) {
      k.back() = static_cast<char>(k.back() + 1);
      return k;
    }
    k.pop_back();
  }
  return std::string(1, '\0');
}

void print_members(const Options& o, const google::protobuf::RepeatedPtrField<pb::Member>& ms) {
  if (o.output == "json") {
    std::printf("[");
    for (int i = 0; i < ms.size(); ++i) {
      const pb::Member& m = ms[i];
      std::printf(
          "%s{\"id\":\"%s\",\"name\":%s,\"peer_urls\":%s,\"client_urls\":%s,\"learner\":%s}",
          i ? "," : "", hex(m.id()).c_str(), json_string(m.name()).c_str(),
          json_list(m.peerurls()).c_str(), json_list(m.clienturls()).c_str(),
          m.islearner() ? "true" : "false");
    }
    std::printf("]\n");
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const pb::Member& m : ms) {
    rows.push_back({hex(m.id()), m.name().empty() ? "unstarted" : m.name(), join(m.peerurls()),
                    join(m.clienturls()), m.islearner() ? "learner" : "voter"});
  }
  print_table({"ID", "NAME", "PEER URLS", "CLIENT URLS", "KIND"}, rows);
}

// The arguments of every command, filled in by CLI11; each command reads its own.
struct Args {
  std::string name, peer_urls;  // member add
  bool learner = false;         // member add
  std::string member_id;        // member remove, member promote, leader transfer
  uint32_t heartbeat_ms = 0, election_min_ms = 0, election_max_ms = 0;  // timeouts set
  std::string key, value;                                               // put, get, del
  bool prefix = false;                                                  // get, del
  uint32_t min_score = 100;                                             // health
  std::string scope, spec;                                              // limits set
  std::string model_file, policy_file;                                  // authz set
  bool show_text = false;                                               // authz get
};

// What a command does once the command line is parsed; returns the exit status.
using Run = std::function<int(Client&, const Options&, const Args&)>;

// ---- member

int member_list(Client& c, const Options& o, const Args&) {
  pb::MemberListResponse r;
  if (auto s = c.call<pb::Cluster>(&pb::Cluster::Stub::MemberList, pb::MemberListRequest(), &r);
      !s.ok()) {
    return failed(s);
  }
  print_members(o, r.members());
  return 0;
}

int member_add(Client& c, const Options&, const Args& a) {
  pb::MemberAddRequest req;
  req.add_peerurls(a.peer_urls);
  req.set_islearner(a.learner);
  pb::MemberAddResponse r;
  if (auto s = c.call<pb::Cluster>(&pb::Cluster::Stub::MemberAdd, req, &r); !s.ok())
    return failed(s);
  std::printf(
      "Member %s added (%s). Start it with:\n  raftkv --name %s "
      "--initial-advertise-peer-urls %s --listen-peer-urls %s --initial-cluster-state "
      "existing --initial-cluster ",
      hex(r.member().id()).c_str(), a.learner ? "learner" : "voter", a.name.c_str(),
      a.peer_urls.c_str(), a.peer_urls.c_str());
  bool first = true;
  for (const pb::Member& m : r.members()) {
    const std::string name = m.id() == r.member().id() ? a.name : m.name();
    if (m.peerurls_size() == 0) continue;
    std::printf("%s%s=%s", first ? "" : ",", name.c_str(), m.peerurls(0).c_str());
    first = false;
  }
  std::printf("\n");
  return 0;
}

// Sends a Req naming the member of the ID argument through the Cluster API `method`,
// then says "Member <id> <done>".
template <typename Req, typename Resp, typename Method>
int change_member(Client& c, const Args& a, Method method, const char* done) {
  uint64_t id = 0;
  if (!member_id_argument(a.member_id, &id)) return raftkv::cmd::kUsageError;
  Req req;
  req.set_id(id);
  Resp r;
  if (auto s = c.call<pb::Cluster>(method, req, &r); !s.ok()) return failed(s);
  std::printf("Member %s %s\n", hex(id).c_str(), done);
  return 0;
}

int member_remove(Client& c, const Options&, const Args& a) {
  return change_member<pb::MemberRemoveRequest, pb::MemberRemoveResponse>(
      c, a, &pb::Cluster::Stub::MemberRemove, "removed");
}

int member_promote(Client& c, const Options&, const Args& a) {
  return change_member<pb::MemberPromoteRequest, pb::MemberPromoteResponse>(
      c, a, &pb::Cluster::Stub::MemberPromote, "promoted to voter");
}

// ---- leader

int leader_transfer(Client& c, const Options&, const Args& a) {
  uint64_t id = 0;
  if (!member_id_argument(a.member_id, &id)) return raftkv::cmd::kUsageError;
  ad::TransferLeadershipRequest req;
  req.set_target_id(id);
  ad::TransferLeadershipResponse r;
  if (auto s = c.call<ad::Admin>(&ad::Admin::Stub::TransferLeadership, req, &r); !s.ok()) {
    return failed(s);
  }
  std::printf("Leader is now %s\n", hex(r.leader()).c_str());
  return 0;
}

// ---- timeouts

int print_timeouts(const Options& o, const ad::Timeouts& t) {
  if (o.output == "json") {
    std::printf("{\"heartbeat_ms\":%u,\"election_min_ms\":%u,\"election_max_ms\":%u}\n",
                t.heartbeat_ms(), t.election_min_ms(), t.election_max_ms());
  } else {
    std::printf("heartbeat %u ms, election timeout [%u, %u] ms\n", t.heartbeat_ms(),
                t.election_min_ms(), t.election_max_ms());
  }
  return 0;
}

int timeouts_get(Client& c, const Options& o, const Args&) {
  ad::Timeouts t;
  if (auto s = c.call<ad::Admin>(&ad::Admin::Stub::GetTimeouts, ad::GetTimeoutsRequest(), &t);
      !s.ok()) {
    return failed(s);
  }
  return print_timeouts(o, t);
}

int timeouts_set(Client& c, const Options& o, const Args& a) {
  ad::Timeouts req;
  req.set_heartbeat_ms(a.heartbeat_ms);
  req.set_election_min_ms(a.election_min_ms);
  req.set_election_max_ms(a.election_max_ms);
  ad::Timeouts t;
  if (auto s = c.call<ad::Admin>(&ad::Admin::Stub::SetTimeouts, req, &t); !s.ok()) {
    return failed(s);
  }
  return print_timeouts(o, t);
}

// ---- status

// One member as status shows it: its Status answer, when it gave one.
struct StatusRow {
  pb::Member member;
  bool reached = false;
  ad::StatusResponse st;
};

// How far `row` applies behind the highest commit index any member reported.
unsigned long long lag(const StatusRow& row, uint64_t commit) {
  return static_cast<unsigned long long>(commit - std::min(commit, row.st.applied()));
}

void print_status_json(const std::vector<StatusRow>& rows, uint64_t commit) {
  std::printf("[");
  for (size_t i = 0; i < rows.size(); ++i) {
    const StatusRow& r = rows[i];
    std::printf(
        "%s{\"id\":\"%s\",\"name\":%s,\"peer_urls\":%s,\"client_urls\":%s,"
        "\"learner\":%s,\"reachable\":%s",
        i ? "," : "", hex(r.member.id()).c_str(), json_string(r.member.name()).c_str(),
        json_list(r.member.peerurls()).c_str(), json_list(r.member.clienturls()).c_str(),
        r.member.islearner() ? "true" : "false", r.reached ? "true" : "false");
    if (r.reached) {
      std::printf(",\"role\":%s,\"term\":%llu,\"commit\":%llu,\"applied\":%llu,\"lag\":%llu",
                  json_string(r.st.role()).c_str(), static_cast<unsigned long long>(r.st.term()),
                  static_cast<unsigned long long>(r.st.commit()),
                  static_cast<unsigned long long>(r.st.applied()), lag(r, commit));
    }
    std::printf("}");
  }
  std::printf("]\n");
}

void print_status_table(const std::vector<StatusRow>& rows, uint64_t commit) {
  std::vector<std::vector<std::string>> table;
  for (const StatusRow& r : rows) {
    std::vector<std::string> line{hex(r.member.id()), r.member.name(), join(r.member.clienturls()),
                                  join(r.member.peerurls())};
    if (r.reached) {
      line.push_back(r.st.role() + (r.st.learner() ? " (learner)" : ""));
      line.push_back(std::to_string(r.st.term()));
      line.push_back(std::to_string(r.st.commit()));
      line.push_back(std::to_string(r.st.applied()));
      line.push_back(std::to_string(lag(r, commit)));
    } else {
      line.insert(line.end(), {"unreachable", "-", "-", "-", "-"});
    }
    table.push_back(line);
  }
  print_table({"ID", "NAME", "CLIENT", "PEER", "ROLE", "TERM", "COMMIT", "APPLIED", "LAG"}, table);
}

// Every member's own view, asked at its first client URL.
int show_status(Client& c, const Options& o, const Args&) {
  pb::MemberListResponse members;
  if (auto s =
          c.call<pb::Cluster>(&pb::Cluster::Stub::MemberList, pb::MemberListRequest(), &members);
      !s.ok()) {
    return failed(s);
  }
  std::vector<StatusRow> rows;
  uint64_t commit = 0;
  for (const pb::Member& m : members.members()) {
    StatusRow r{m, false, {}};
    if (m.clienturls_size() > 0) {
      r.reached = c.call_at<ad::Admin>(address(m.clienturls(0)), &ad::Admin::Stub::Status,
                                       ad::StatusRequest(), &r.st, std::min(o.timeout_ms, 2000))
                      .ok();
    }
    if (r.reached) commit = std::max(commit, r.st.commit());
    rows.push_back(std::move(r));
  }
  if (o.output == "json") {
    print_status_json(rows, commit);
  } else {
    print_status_table(rows, commit);
  }
  return 0;
}

// ---- limits

std::string as_json(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, opts);
  return out;
}

int print_limits(const Options& o, const ad::GetLimitsResponse& r) {
  if (o.output == "json") {
    std::printf("%s\n", as_json(r).c_str());
    return 0;
  }
  const limits::LimitsConfig c = server::from_proto(r.limits());
  auto or_none = [](std::string s) { return s.empty() ? std::string("no limit") : s; };
  std::vector<std::vector<std::string>> rows{{"defaults", or_none(limits::to_string(c.defaults))}};
  std::string member;
  if (c.member.max_concurrent)
    member += "max_concurrent=" + std::to_string(*c.member.max_concurrent);
  if (c.member.max_memory_bytes) {
    member += std::string(member.empty() ? "" : ",") +
              "max_memory_bytes=" + std::to_string(*c.member.max_memory_bytes);
  }
  rows.push_back({"member", or_none(member)});
  for (const auto& [client, l] : c.overrides)
    rows.push_back({client, or_none(limits::to_string(l))});
  print_table({"SCOPE", "LIMITS"}, rows);
  std::string refused;
  for (const auto& [limit, n] : r.refused()) {
    if (n > 0) refused += (refused.empty() ? "" : ", ") + limit + "=" + std::to_string(n);
  }
  std::printf("\nin flight: %llu requests, %llu bytes; admitted %llu; refused: %s\n",
              static_cast<unsigned long long>(r.in_flight()),
              static_cast<unsigned long long>(r.in_flight_bytes()),
              static_cast<unsigned long long>(r.admitted()),
              refused.empty() ? "none" : refused.c_str());
  return 0;
}

int bad_spec(const absl::Status& s) {
  std::cerr << "raftkvctl: " << s.message() << "\n";
  return raftkv::cmd::kUsageError;
}

int limits_get(Client& c, const Options& o, const Args&) {
  ad::GetLimitsResponse r;
  if (auto s = c.call<ad::Admin>(&ad::Admin::Stub::GetLimits, ad::GetLimitsRequest(), &r);
      !s.ok()) {
    return failed(s);
  }
  return print_limits(o, r);
}

// Replaces one scope's limits (defaults, member, or one client's override; an empty
// SPEC removes them), through the log, then shows the limits in force.
int limits_set(Client& c, const Options& o, const Args& a) {
  ad::GetLimitsResponse now;
  if (auto s = c.call<ad::Admin>(&ad::Admin::Stub::GetLimits, ad::GetLimitsRequest(), &now);
      !s.ok()) {
    return failed(s);
  }
  limits::LimitsConfig cfg = server::from_proto(now.limits());
  if (a.scope == "member") {
    auto m = limits::parse_member_limits(a.spec);
    if (!m.ok()) return bad_spec(m.status());
    cfg.member = *m;
  } else {
    auto l = limits::parse_client_limits(a.spec);
    if (!l.ok()) return bad_spec(l.status());
    if (a.scope == "defaults") {
      cfg.defaults = *l;
    } else if (a.spec.empty()) {
      cfg.overrides.erase(a.scope);
    } else {
      cfg.overrides[a.scope] = *l;
    }
  }
  ad::Limits set;
  if (auto s = c.call<ad::Admin>(&ad::Admin::Stub::SetLimits, server::to_proto(cfg), &set);
      !s.ok()) {
    return failed(s);
  }
  ad::GetLimitsResponse shown = now;
  *shown.mutable_limits() = set;
  return print_limits(o, shown);
}

// ---- authz

void print_authz(const Options& o, const ad::Authz& a, bool text) {
  if (o.output == "json") {
    std::printf("{\"revision\":%llu,\"fingerprint\":%s,\"model_name\":%s,\"policy_name\":%s",
                static_cast<unsigned long long>(a.revision()), json_string(a.fingerprint()).c_str(),
                json_string(a.model_name()).c_str(), json_string(a.policy_name()).c_str());
    if (text) {
      std::printf(",\"model\":%s,\"policy\":%s", json_string(a.model()).c_str(),
                  json_string(a.policy()).c_str());
    }
    std::printf("}\n");
    return;
  }
  std::printf("revision %llu, %s, from %s and %s\n", static_cast<unsigned long long>(a.revision()),
              a.fingerprint().c_str(), a.model_name().c_str(), a.policy_name().c_str());
  if (text) std::printf("%s\n%s", a.model().c_str(), a.policy().c_str());
}

int authz_get(Client& c, const Options& o, const Args& a) {
  ad::Authz r;
  if (auto s = c.call<ad::Admin>(&ad::Admin::Stub::GetAuthz, ad::GetAuthzRequest(), &r); !s.ok()) {
    return failed(s);
  }
  print_authz(o, r, a.show_text);
  return 0;
}

int authz_set(Client& c, const Options& o, const Args& a) {
  ad::Authz req;
  for (const auto& [path, out] : {std::pair{&a.model_file, req.mutable_model()},
                                  std::pair{&a.policy_file, req.mutable_policy()}}) {
    std::ifstream in(*path, std::ios::binary);
    if (!in.is_open()) return usage("cannot read " + *path + ": " + std::strerror(errno));
    std::stringstream text;
    text << in.rdbuf();
    if (in.bad()) return usage("cannot read " + *path + ": " + std::strerror(errno));
    *out = text.str();
  }
  req.set_model_name(a.model_file);
  req.set_policy_name(a.policy_file);
  ad::Authz r;
  if (auto s = c.call<ad::Admin>(&ad::Admin::Stub::SetAuthz, req, &r); !s.ok()) return failed(s);
  print_authz(o, r, false);
  return 0;
}

// ---- health

// One member as health shows it: its Health answer, when it gave one.
struct HealthRow {
  pb::Member member;
  bool reached = false;
  ad::HealthResponse h;
};

std::string reasons_text(const ad::HealthResponse& h) {
  std::string out;
  for (const ad::HealthReason& r : h.reasons()) {
    if (!out.empty()) out += "; ";
    out += r.detail() + " (-" + std::to_string(r.penalty()) + ", want " + r.threshold() + ")";
  }
  return out;
}

void print_health_json(const std::vector<HealthRow>& rows) {
  std::printf("[");
  for (size_t i = 0; i < rows.size(); ++i) {
    const HealthRow& r = rows[i];
    std::printf("%s{\"id\":\"%s\",\"name\":%s,\"reachable\":%s", i ? "," : "",
                hex(r.member.id()).c_str(), json_string(r.member.name()).c_str(),
                r.reached ? "true" : "false");
    if (r.reached) {
      std::printf(",\"score\":%u,\"reasons\":[", r.h.score());
      for (int j = 0; j < r.h.reasons_size(); ++j) {
        const ad::HealthReason& x = r.h.reasons(j);
        std::printf("%s{\"input\":%s,\"detail\":%s,\"threshold\":%s,\"penalty\":%u}", j ? "," : "",
                    json_string(x.input()).c_str(), json_string(x.detail()).c_str(),
                    json_string(x.threshold()).c_str(), x.penalty());
      }
      std::printf("]");
    }
    std::printf("}");
  }
  std::printf("]\n");
}

// Every member's health score and reasons, asked at its first client URL. Exits 1 when
// a member is unreachable or scores below --min-score.
int show_health(Client& c, const Options& o, const Args& a) {
  pb::MemberListResponse members;
  if (auto s =
          c.call<pb::Cluster>(&pb::Cluster::Stub::MemberList, pb::MemberListRequest(), &members);
      !s.ok()) {
    return failed(s);
  }
  std::vector<HealthRow> rows;
  bool below = false;
  for (const pb::Member& m : members.members()) {
    HealthRow r{m, false, {}};
    if (m.clienturls_size() > 0) {
      r.reached = c.call_at<ad::Admin>(address(m.clienturls(0)), &ad::Admin::Stub::Health,
                                       ad::HealthRequest(), &r.h, std::min(o.timeout_ms, 2000))
                      .ok();
    }
    below = below || !r.reached || r.h.score() < a.min_score;
    rows.push_back(std::move(r));
  }
  if (o.output == "json") {
    print_health_json(rows);
  } else {
    std::vector<std::vector<std::string>> table;
    for (const HealthRow& r : rows) {
      table.push_back({hex(r.member.id()), r.member.name(),
                       r.reached ? std::to_string(r.h.score()) : "unreachable",
                       r.reached ? reasons_text(r.h) : "-"});
    }
    print_table({"ID", "NAME", "SCORE", "REASONS"}, table);
  }
  return below ? 1 : 0;
}

// ---- keys

int put_key(Client& c, const Options&, const Args& a) {
  pb::PutRequest req;
  req.set_key(a.key);
  req.set_value(a.value);
  pb::PutResponse r;
  if (auto s = c.call<pb::KV>(&pb::KV::Stub::Put, req, &r); !s.ok()) return failed(s);
  std::printf("OK\n");
  return 0;
}

int get_keys(Client& c, const Options& o, const Args& a) {
  pb::RangeRequest req;
  req.set_key(a.key);
  if (a.prefix) req.set_range_end(prefix_end(a.key));
  pb::RangeResponse r;
  if (auto s = c.call<pb::KV>(&pb::KV::Stub::Range, req, &r); !s.ok()) return failed(s);
  if (o.output == "json") {
    std::printf("{\"revision\":%lld,\"kvs\":[", static_cast<long long>(r.header().revision()));
    for (int i = 0; i < r.kvs_size(); ++i) {
      std::printf("%s{\"key\":%s,\"value\":%s,\"mod_revision\":%lld}", i ? "," : "",
                  json_string(r.kvs(i).key()).c_str(), json_string(r.kvs(i).value()).c_str(),
                  static_cast<long long>(r.kvs(i).mod_revision()));
    }
    std::printf("]}\n");
  } else {
    for (const auto& kv : r.kvs()) std::printf("%s\n%s\n", kv.key().c_str(), kv.value().c_str());
  }
  return 0;
}

int delete_keys(Client& c, const Options&, const Args& a) {
  pb::DeleteRangeRequest req;
  req.set_key(a.key);
  if (a.prefix) req.set_range_end(prefix_end(a.key));
  pb::DeleteRangeResponse r;
  if (auto s = c.call<pb::KV>(&pb::KV::Stub::DeleteRange, req, &r); !s.ok()) return failed(s);
  std::printf("%lld\n", static_cast<long long>(r.deleted()));
  return 0;
}

// ---- the command line

// The commands a parsed command line may select, each with what runs it.
using Commands = std::vector<std::pair<CLI::App*, Run>>;

void add_global_options(CLI::App& app, Options* o) {
  app.require_subcommand(1);
  app.fallthrough();  // --endpoints and -o may come after the command too
  app.add_option("--endpoints", o->endpoints,
                 "Client endpoints, host:port or URLs, comma-separated")
      ->capture_default_str();
  app.add_option("-o,--output", o->output, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  app.add_option("--timeout", o->timeout_ms, "Per-request timeout in ms")
      ->check(CLI::Range(1, 3'600'000))
      ->capture_default_str();
  raftkv::cmd::add_client_tls_flags(app, o->tls);
  raftkv::cmd::add_client_auth_flags(app, o->auth);
}

void add_member_commands(CLI::App& app, Args* a, Commands* commands) {
  auto* member = app.add_subcommand("member", "List, add, remove and promote members");
  member->require_subcommand(1);
  commands->emplace_back(member->add_subcommand("list", "List the members"), member_list);
  auto* add = member->add_subcommand("add", "Add a member (start it afterwards)");
  add->add_option("name", a->name, "The new member's name")->required();
  add->add_option("--peer-urls", a->peer_urls, "Its peer URL")->required();
  add->add_flag("--learner", a->learner, "Add it as a non-voting learner");
  commands->emplace_back(add, member_add);
  auto* remove = member->add_subcommand("remove", "Remove a member");
  remove->add_option("id", a->member_id, "Member ID in hex")->required();
  commands->emplace_back(remove, member_remove);
  auto* promote = member->add_subcommand("promote", "Promote a learner to voter");
  promote->add_option("id", a->member_id, "Member ID in hex")->required();
  commands->emplace_back(promote, member_promote);
}

void add_cluster_commands(CLI::App& app, Args* a, Commands* commands) {
  auto* leader = app.add_subcommand("leader", "Leadership");
  leader->require_subcommand(1);
  auto* transfer = leader->add_subcommand("transfer", "Hand leadership to a member");
  transfer->add_option("id", a->member_id, "Member ID in hex")->required();
  commands->emplace_back(transfer, leader_transfer);

  auto* timeouts = app.add_subcommand("timeouts", "Heartbeat and election timeouts");
  timeouts->require_subcommand(1);
  commands->emplace_back(timeouts->add_subcommand("get", "Show the timeouts in force"),
                         timeouts_get);
  auto* set = timeouts->add_subcommand("set", "Change them on every node, through consensus");
  set->add_option("--heartbeat", a->heartbeat_ms, "Heartbeat interval in ms")->required();
  set->add_option("--election-min", a->election_min_ms, "Election timeout minimum in ms")
      ->required();
  set->add_option("--election-max", a->election_max_ms, "Election timeout maximum in ms")
      ->required();
  commands->emplace_back(set, timeouts_set);

  commands->emplace_back(app.add_subcommand("status", "Every member's role, term, commit and lag"),
                         show_status);
  auto* lim = app.add_subcommand("limits", "Per-client and member limits");
  lim->require_subcommand(1);
  commands->emplace_back(lim->add_subcommand("get", "Show the limits in force and the usage"),
                         limits_get);
  auto* lim_set =
      lim->add_subcommand("set", "Replace one scope's limits on every member, through consensus");
  lim_set
      ->add_option("scope", a->scope, "defaults, member, or a client (\"127.0.0.1\", \"id:NAME\")")
      ->required();
  lim_set
      ->add_option("spec", a->spec,
                   "key=value,... (requests_per_second, burst, write_bytes_per_second, "
                   "max_concurrent, max_memory_bytes); empty: no limits")
      ->required();
  commands->emplace_back(lim_set, limits_set);
  auto* authz = app.add_subcommand("authz", "The authorization policy over cluster operations");
  authz->require_subcommand(1);
  auto* authz_get_cmd = authz->add_subcommand("get", "Show the policy in force");
  authz_get_cmd->add_flag("--text", a->show_text, "Show the model and policy texts too");
  commands->emplace_back(authz_get_cmd, authz_get);
  auto* authz_set_cmd =
      authz->add_subcommand("set", "Replace the policy on every member, through consensus");
  authz_set_cmd->add_option("model", a->model_file, "Casbin model.conf")->required();
  authz_set_cmd->add_option("policy", a->policy_file, "Casbin policy.csv")->required();
  commands->emplace_back(authz_set_cmd, authz_set);
  auto* health = app.add_subcommand(
      "health", "Every member's health score and reasons; exits 1 when one is below --min-score");
  health->add_option("--min-score", a->min_score, "Lowest acceptable score (0-100)")
      ->check(CLI::Range(0, 100));
  commands->emplace_back(health, show_health);
}

void add_key_commands(CLI::App& app, Args* a, Commands* commands) {
  auto* put_cmd = app.add_subcommand("put", "Write a key");
  put_cmd->add_option("key", a->key)->required();
  put_cmd->add_option("value", a->value)->required();
  commands->emplace_back(put_cmd, put_key);
  auto* get_cmd = app.add_subcommand("get", "Read a key (linearizable)");
  get_cmd->add_option("key", a->key)->required();
  get_cmd->add_flag("--prefix", a->prefix, "Every key with this prefix");
  commands->emplace_back(get_cmd, get_keys);
  auto* del_cmd = app.add_subcommand("del", "Delete a key");
  del_cmd->add_option("key", a->key)->required();
  del_cmd->add_flag("--prefix", a->prefix, "Every key with this prefix");
  commands->emplace_back(del_cmd, delete_keys);
}

}  // namespace

int main(int argc, char** argv) {
  const raftkv::cmd::GrpcLifetime grpc;  // first: outlives every channel
  Options o;
  Args a;
  Commands commands;
  CLI::App app{"raftkvctl: administer a raftkv cluster"};
  add_global_options(app, &o);
  add_member_commands(app, &a, &commands);
  add_cluster_commands(app, &a, &commands);
  add_key_commands(app, &a, &commands);
  // `raftkvctl version`, as `etcdctl version`: this tool's version; no member is asked.
  auto* version = app.add_subcommand("version", "Print the version and the git commit");
  if (std::optional<int> exit = raftkv::cmd::parse_command_line(app, "raftkvctl", argc, argv)) {
    return *exit;
  }
  if (version->parsed()) {
    std::cout << raftkv::cmd::version_text("raftkvctl");
    return 0;
  }
  auto creds = raftkv::cmd::channel_credentials(o.tls, o.endpoints);
  if (!creds.ok()) return usage(std::string(creds.status().message()));
  o.creds = *std::move(creds);
  Client c(o);
  if (!o.auth.user.empty()) {
    // The first endpoint that answers hands out the token; every member knows it.
    absl::Status last = absl::UnavailableError("no endpoint given");
    for (const std::string& ep : split(o.endpoints, ',')) {
      absl::StatusOr<std::string> token = raftkv::cmd::authenticate(
          o.auth, grpc::CreateChannel(address(ep), o.creds), o.timeout_ms);
      if (token.ok()) {
        o.token = *std::move(token);
        break;
      }
      if (absl::IsInvalidArgument(token.status()))
        return usage(std::string(token.status().message()));
      last = token.status();
    }
    if (o.token.empty())
      return failed(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(last.message())));
  }
  for (const auto& [command, run] : commands) {
    if (command->parsed()) return run(c, o, a);
  }
  return usage("no command given");
}
