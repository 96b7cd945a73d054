#include "server/server.h"

#include <grpcpp/grpcpp.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>

#include "etcd/rpc.grpc.pb.h"
#include "node/raft_node.h"
#include "raftkv/admin.grpc.pb.h"
#include "raftkv/internal.pb.h"
#include "server/http_endpoint.h"
#include "server/kv_state_machine.h"
#include "transport/grpc_transport.h"

namespace server {
namespace {

namespace pb = etcdserverpb;
namespace in = raftkv::internal;
using Millis = std::chrono::milliseconds;

grpc::Status to_grpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

grpc::Status too_large() {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "etcdserver: request is too large");
}

// What every RPC shares: the node, the state machine and the response header. The one
// place an RPC enters the server: authorization and per-client limits go here.
struct Context {
  const ServerConfig* config;
  node::RaftNode* node;
  KvStateMachine* sm;

  void header(pb::ResponseHeader* h) const {
    h->set_cluster_id(config->cluster_id);
    h->set_member_id(config->node.id.value());
    h->set_raft_term(node->term().value());
  }
  // Checks a request before it runs: size and the learner rule today; identity, RBAC
  // and limits later. Every etcd RPC calls it first (streams with their first message).
  grpc::Status gate(const google::protobuf::Message& req) const {
    if (req.ByteSizeLong() > config->node.max_request_bytes) return too_large();
    // etcd 3.4 (v3rpc interceptor): a learner serves only Status and serializable
    // Range; clients move on to another endpoint on Unavailable.
    if (sm->self_is_learner() && !learner_may_serve(req)) return not_for_learner();
    return grpc::Status::OK;
  }
  // The learner rule for a stream, checked when it opens (etcd refuses every stream).
  grpc::Status gate_stream() const {
    return sm->self_is_learner() ? not_for_learner() : grpc::Status::OK;
  }
  static grpc::Status not_for_learner() {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "etcdserver: rpc not supported for learner");
  }
  static bool learner_may_serve(const google::protobuf::Message& req) {
    if (req.GetDescriptor() == pb::StatusRequest::descriptor()) return true;
    if (req.GetDescriptor() == pb::RangeRequest::descriptor()) {
      return static_cast<const pb::RangeRequest&>(req).serializable();
    }
    return false;
  }
  // Replicates `c` and returns its result, or the error that stopped it.
  grpc::Status write(const in::Command& c, in::Result* result) const {
    return parse(node->client_write(c.SerializeAsString(), config->request_timeout), result);
  }
  // The same without a waiting thread: once `c` is applied here (or failed), `fill`
  // copies the result into the response and the RPC finishes, on a runtime thread.
  void write_async(const in::Command& c, grpc::ServerUnaryReactor* reactor,
                   std::function<void(const in::Result&)> fill) const {
    node->client_write_async(c.SerializeAsString(), config->request_timeout,
                             [reactor, fill = std::move(fill)](absl::StatusOr<std::string> r) {
                               in::Result result;
                               grpc::Status s = parse(r, &result);
                               if (s.ok()) fill(result);
                               reactor->Finish(s);
                             });
  }
  static grpc::Status parse(const absl::StatusOr<std::string>& r, in::Result* result) {
    if (!r.ok()) return to_grpc(r.status());
    if (!result->ParseFromString(*r)) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "raftkv: unreadable apply result");
    }
    if (result->code() != 0) {
      return grpc::Status(static_cast<grpc::StatusCode>(result->code()), result->message());
    }
    return grpc::Status::OK;
  }
  grpc::Status read_barrier() const {
    return to_grpc(node->linearizable_read(config->request_timeout));
  }
};

// The KV service on gRPC's callback API: no thread waits for a write or a ReadIndex
// round; the runtime finishes the RPC when the entry is applied or the read is safe.
class KvService final : public pb::KV::CallbackService {
 public:
  explicit KvService(Context c) : c_(c) {}

  grpc::ServerUnaryReactor* Range(grpc::CallbackServerContext* ctx, const pb::RangeRequest* req,
                                  pb::RangeResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (auto s = c_.gate(*req); !s.ok()) {
      reactor->Finish(s);
      return reactor;
    }
    auto serve = [c = c_, req, resp, reactor](absl::Status barrier) {
      if (!barrier.ok()) return reactor->Finish(to_grpc(barrier));
      grpc::Status s = c.sm->range(*req, resp);
      if (s.ok()) c.header(resp->mutable_header());
      reactor->Finish(s);
    };
    if (req->serializable()) {
      serve(absl::OkStatus());
    } else {
      c_.node->linearizable_read_async(c_.config->request_timeout, std::move(serve));
    }
    return reactor;
  }

  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx, const pb::PutRequest* req,
                                pb::PutResponse* resp) override {
    in::Command c;
    *c.mutable_put() = *req;
    return write(ctx, *req, c, [c = c_, resp](const in::Result& r) {
      *resp = r.put();
      c.header(resp->mutable_header());
    });
  }

  grpc::ServerUnaryReactor* DeleteRange(grpc::CallbackServerContext* ctx,
                                        const pb::DeleteRangeRequest* req,
                                        pb::DeleteRangeResponse* resp) override {
    in::Command c;
    *c.mutable_delete_range() = *req;
    return write(ctx, *req, c, [c = c_, resp](const in::Result& r) {
      *resp = r.delete_range();
      c.header(resp->mutable_header());
    });
  }

  grpc::ServerUnaryReactor* Txn(grpc::CallbackServerContext* ctx, const pb::TxnRequest* req,
                                pb::TxnResponse* resp) override {
    in::Command c;
    *c.mutable_txn() = *req;
    return write(ctx, *req, c, [c = c_, resp](const in::Result& r) {
      *resp = r.txn();
      c.header(resp->mutable_header());
    });
  }

  grpc::ServerUnaryReactor* Compact(grpc::CallbackServerContext* ctx,
                                    const pb::CompactionRequest* req,
                                    pb::CompactionResponse* resp) override {
    in::Command c;
    *c.mutable_compaction() = *req;
    return write(ctx, *req, c, [c = c_, resp](const in::Result& r) {
      *resp = r.compaction();
      c.header(resp->mutable_header());
    });
  }

 private:
  grpc::ServerUnaryReactor* write(grpc::CallbackServerContext* ctx,
                                  const google::protobuf::Message& req, const in::Command& c,
                                  std::function<void(const in::Result&)> fill) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (auto s = c_.gate(req); !s.ok()) {
      reactor->Finish(s);
      return reactor;
    }
    c_.write_async(c, reactor, std::move(fill));
    return reactor;
  }

  Context c_;
};

class WatchService final : public pb::Watch::Service {
 public:
  explicit WatchService(Context c, const std::atomic<bool>* stopping)
      : c_(c), stopping_(stopping) {}

  grpc::Status Watch(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<pb::WatchResponse, pb::WatchRequest>* stream) override {
    if (auto s = c_.gate_stream(); !s.ok()) return s;
    std::mutex mu;
    std::deque<pb::WatchRequest> requests;
    bool closed = false;
    std::thread reader([&] {
      pb::WatchRequest req;
      while (stream->Read(&req)) {
        std::lock_guard<std::mutex> lock(mu);
        requests.push_back(req);
      }
      std::lock_guard<std::mutex> lock(mu);
      closed = true;
    });
    std::map<int64_t, kv::WatchId> watches;  // stream watch id -> store watcher
    int64_t next_id = 0;
    uint64_t seen = 0;
    bool ok = true;
    auto send = [&](pb::WatchResponse& r) {
      c_.header(r.mutable_header());
      if (r.header().revision() == 0) r.mutable_header()->set_revision(c_.sm->revision());
      ok = ok && stream->Write(r);
    };
    while (ok && !*stopping_ && !ctx->IsCancelled()) {
      std::deque<pb::WatchRequest> todo;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (closed && requests.empty()) break;
        todo.swap(requests);
      }
      for (const pb::WatchRequest& req : todo) {
        if (req.has_create_request()) {
          const pb::WatchCreateRequest& cr = req.create_request();
          pb::WatchResponse r;
          int64_t id = cr.watch_id() != 0 ? cr.watch_id() : next_id;
          if (watches.contains(id)) {
            r.set_watch_id(-1);
            r.set_created(true);
            r.set_canceled(true);
            r.set_cancel_reason("etcdserver: duplicate watch ID");
            send(r);
            continue;
          }
          while (watches.contains(next_id)) ++next_id;
          if (cr.watch_id() == 0) ++next_id;
          kv::WatchCreateRequest k;
          k.key = cr.key();
          k.range_end = cr.range_end();
          k.start_revision = cr.start_revision();
          k.prev_kv = cr.prev_kv();
          for (int f : cr.filters()) {
            if (f == pb::WatchCreateRequest::NOPUT) k.no_put = true;
            if (f == pb::WatchCreateRequest::NODELETE) k.no_delete = true;
          }
          kv::WatchCreateResponse created = c_.sm->watch_create(k);
          watches[id] = created.watch_id;
          r.set_watch_id(id);
          r.set_created(true);
          r.mutable_header()->set_revision(created.revision);
          send(r);
        } else if (req.has_cancel_request()) {
          const int64_t id = req.cancel_request().watch_id();
          auto it = watches.find(id);
          if (it != watches.end()) {
            c_.sm->watch_cancel(it->second);
            watches.erase(it);
            pb::WatchResponse r;
            r.set_watch_id(id);
            r.set_canceled(true);
            send(r);
          }
        } else if (req.has_progress_request()) {
          bool synced = true;
          int64_t rev = 0;
          for (const auto& [id, w] : watches) {
            auto p = c_.sm->watch_progress(w);
            synced = synced && p.has_value();
            if (p) rev = *p;
          }
          if (synced) {
            pb::WatchResponse r;
            r.set_watch_id(-1);
            r.mutable_header()->set_revision(rev != 0 ? rev : c_.sm->revision());
            send(r);
          }
        }
      }
      for (auto it = watches.begin(); ok && it != watches.end();) {
        kv::WatchResponse w = c_.sm->watch_poll(it->second);
        if (w.events.empty() && !w.canceled) {
          ++it;
          continue;
        }
        pb::WatchResponse r;
        r.set_watch_id(it->first);
        r.mutable_header()->set_revision(w.revision);
        for (const kv::Event& e : w.events) {
          mvccpb::Event* pe = r.add_events();
          pe->set_type(e.type == kv::Event::Type::kPut ? mvccpb::Event::PUT
                                                       : mvccpb::Event::DELETE);
          auto put_kv = [](const kv::KeyValue& k, mvccpb::KeyValue* o) {
            o->set_key(k.key);
            o->set_create_revision(k.create_revision);
            o->set_mod_revision(k.mod_revision);
            o->set_version(k.version);
            o->set_value(k.value);
            o->set_lease(k.lease);
          };
          put_kv(e.kv, pe->mutable_kv());
          if (e.prev_kv) put_kv(*e.prev_kv, pe->mutable_prev_kv());
        }
        if (w.canceled) {
          r.set_canceled(true);
          r.set_compact_revision(w.compact_revision);
          r.set_cancel_reason(w.cancel_reason);
          send(r);
          it = watches.erase(it);
          continue;
        }
        send(r);
        ++it;
      }
      seen = c_.sm->wait_for_change(seen, Millis(50));
    }
    for (const auto& [id, w] : watches) c_.sm->watch_cancel(w);
    ctx->TryCancel();
    reader.join();
    return grpc::Status::OK;
  }

 private:
  Context c_;
  const std::atomic<bool>* stopping_;
};

class LeaseService final : public pb::Lease::Service {
 public:
  explicit LeaseService(Context c) : c_(c) {}

  grpc::Status LeaseGrant(grpc::ServerContext*, const pb::LeaseGrantRequest* req,
                          pb::LeaseGrantResponse* resp) override {
    if (auto s = c_.gate(*req); !s.ok()) return s;
    in::Command c;
    *c.mutable_lease_grant() = *req;
    in::Result r;
    if (auto s = c_.write(c, &r); !s.ok()) return s;
    *resp = r.lease_grant();
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

  grpc::Status LeaseRevoke(grpc::ServerContext*, const pb::LeaseRevokeRequest* req,
                           pb::LeaseRevokeResponse* resp) override {
    if (auto s = c_.gate(*req); !s.ok()) return s;
    in::Command c;
    *c.mutable_lease_revoke() = *req;
    in::Result r;
    if (auto s = c_.write(c, &r); !s.ok()) return s;
    *resp = r.lease_revoke();
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

  grpc::Status LeaseKeepAlive(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<pb::LeaseKeepAliveResponse, pb::LeaseKeepAliveRequest>* stream)
      override {
    if (auto s = c_.gate_stream(); !s.ok()) return s;
    pb::LeaseKeepAliveRequest req;
    while (stream->Read(&req)) {
      if (auto s = c_.gate(req); !s.ok()) return s;
      absl::StatusOr<std::string> r = c_.node->leader_call(
          std::string(1, KvStateMachine::kLeaseKeepAlive) + req.SerializeAsString(),
          c_.config->request_timeout);
      if (!r.ok()) return to_grpc(r.status());
      pb::LeaseKeepAliveResponse resp;
      resp.ParseFromString(*r);
      c_.header(resp.mutable_header());
      if (!stream->Write(resp)) break;
    }
    return grpc::Status::OK;
  }

  grpc::Status LeaseTimeToLive(grpc::ServerContext*, const pb::LeaseTimeToLiveRequest* req,
                               pb::LeaseTimeToLiveResponse* resp) override {
    if (auto s = c_.gate(*req); !s.ok()) return s;
    absl::StatusOr<std::string> r = c_.node->leader_call(
        std::string(1, KvStateMachine::kLeaseTimeToLive) + req->SerializeAsString(),
        c_.config->request_timeout);
    if (!r.ok()) return to_grpc(r.status());
    resp->ParseFromString(*r);
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

  grpc::Status LeaseLeases(grpc::ServerContext*, const pb::LeaseLeasesRequest* req,
                           pb::LeaseLeasesResponse* resp) override {
    if (auto s = c_.gate(*req); !s.ok()) return s;
    if (auto s = c_.read_barrier(); !s.ok()) return s;
    c_.sm->lease_leases(resp);
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

 private:
  Context c_;
};

class ClusterService final : public pb::Cluster::Service {
 public:
  explicit ClusterService(Context c) : c_(c) {}

  grpc::Status MemberAdd(grpc::ServerContext*, const pb::MemberAddRequest* req,
                         pb::MemberAddResponse* resp) override {
    if (auto s = c_.gate(*req); !s.ok()) return s;
    if (req->peerurls_size() == 0) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "etcdserver: given member URLs are invalid");
    }
    for (const std::string& url : req->peerurls()) {
      if (!url_to_address(url).ok()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "etcdserver: given member URLs are invalid");
      }
    }
    for (const pb::Member& m : c_.sm->members()) {
      for (const std::string& url : m.peerurls()) {
        if (std::find(req->peerurls().begin(), req->peerurls().end(), url) !=
            req->peerurls().end()) {
          return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                              "etcdserver: Peer URLs already exists");
        }
      }
    }
    const uint64_t id = member_id(c_.config->cluster_token, req->peerurls(0));
    in::Command c;
    in::MemberAttributes* a = c.mutable_member_attributes();
    a->set_id(id);
    *a->mutable_peer_urls() = req->peerurls();
    in::Result r;
    if (auto s = c_.write(c, &r); !s.ok()) return s;
    if (auto s = c_.node->add_node(raft::NodeId(id), req->islearner(), c_.config->request_timeout);
        !s.ok()) {
      return to_grpc(s);
    }
    resp->mutable_member()->set_id(id);
    *resp->mutable_member()->mutable_peerurls() = req->peerurls();
    resp->mutable_member()->set_islearner(req->islearner());
    list(resp->mutable_members());
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

  grpc::Status MemberRemove(grpc::ServerContext*, const pb::MemberRemoveRequest* req,
                            pb::MemberRemoveResponse* resp) override {
    if (auto s = c_.gate(*req); !s.ok()) return s;
    if (!c_.sm->membership().contains(raft::NodeId(req->id()))) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "etcdserver: member not found");
    }
    if (auto s = c_.node->remove_node(raft::NodeId(req->id()), c_.config->request_timeout);
        !s.ok()) {
      return to_grpc(s);
    }
    list(resp->mutable_members());
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

  grpc::Status MemberUpdate(grpc::ServerContext*, const pb::MemberUpdateRequest* req,
                            pb::MemberUpdateResponse* resp) override {
    if (auto s = c_.gate(*req); !s.ok()) return s;
    if (!c_.sm->membership().contains(raft::NodeId(req->id()))) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "etcdserver: member not found");
    }
    for (const std::string& url : req->peerurls()) {
      if (!url_to_address(url).ok()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "etcdserver: given member URLs are invalid");
      }
    }
    in::Command c;
    c.mutable_member_attributes()->set_id(req->id());
    *c.mutable_member_attributes()->mutable_peer_urls() = req->peerurls();
    in::Result r;
    if (auto s = c_.write(c, &r); !s.ok()) return s;
    list(resp->mutable_members());
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

  grpc::Status MemberList(grpc::ServerContext*, const pb::MemberListRequest* req,
                          pb::MemberListResponse* resp) override {
    if (auto s = c_.gate(*req); !s.ok()) return s;
    if (req->linearizable()) {
      if (auto s = c_.read_barrier(); !s.ok()) return s;
    }
    list(resp->mutable_members());
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

  grpc::Status MemberPromote(grpc::ServerContext*, const pb::MemberPromoteRequest* req,
                             pb::MemberPromoteResponse* resp) override {
    if (auto s = c_.gate(*req); !s.ok()) return s;
    const raft::Membership m = c_.sm->membership();
    if (!m.contains(raft::NodeId(req->id()))) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "etcdserver: member not found");
    }
    if (!m.learners.contains(raft::NodeId(req->id()))) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "etcdserver: can only promote a learner member");
    }
    if (auto s = c_.node->promote_node(raft::NodeId(req->id()), c_.config->request_timeout);
        !s.ok()) {
      return to_grpc(s);
    }
    list(resp->mutable_members());
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

 private:
  void list(google::protobuf::RepeatedPtrField<pb::Member>* out) {
    for (pb::Member& m : c_.sm->members()) *out->Add() = std::move(m);
  }
  Context c_;
};

class MaintenanceService final : public pb::Maintenance::Service {
 public:
  explicit MaintenanceService(Context c) : c_(c) {}

  grpc::Status Alarm(grpc::ServerContext*, const pb::AlarmRequest* req,
                     pb::AlarmResponse* resp) override {
    if (auto s = c_.gate(*req); !s.ok()) return s;
    if (req->action() == pb::AlarmRequest::GET) {
      for (const auto& a : c_.sm->alarms()) *resp->add_alarms() = a;
      c_.header(resp->mutable_header());
      resp->mutable_header()->set_revision(c_.sm->revision());
      return grpc::Status::OK;
    }
    in::Command c;
    *c.mutable_alarm() = *req;
    in::Result r;
    if (auto s = c_.write(c, &r); !s.ok()) return s;
    *resp = r.alarm();
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

  grpc::Status Status(grpc::ServerContext*, const pb::StatusRequest* req,
                      pb::StatusResponse* resp) override {
    if (auto s = c_.gate(*req); !s.ok()) return s;
    const node::NodeState st = c_.node->status();
    resp->set_version("3.5.0");
    resp->set_dbsize(c_.sm->size_bytes());
    resp->set_dbsizeinuse(c_.sm->size_bytes());
    resp->set_leader(st.core.leader.value());
    resp->set_raftindex(st.core.commit.value());
    resp->set_raftterm(st.core.term.value());
    resp->set_raftappliedindex(st.applied.value());
    resp->set_islearner(st.membership.learners.contains(c_.config->node.id));
    for (const auto& a : c_.sm->alarms()) {
      if (a.alarm() == pb::NOSPACE) resp->add_errors("etcdserver: mvcc: database space exceeded");
    }
    c_.header(resp->mutable_header());
    resp->mutable_header()->set_revision(c_.sm->revision());
    return grpc::Status::OK;
  }

  grpc::Status Defragment(grpc::ServerContext*, const pb::DefragmentRequest* req,
                          pb::DefragmentResponse* resp) override {
    if (auto s = c_.gate(*req); !s.ok()) return s;
    // The store lives in memory: there is nothing to defragment.
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

  grpc::Status Hash(grpc::ServerContext*, const pb::HashRequest* req, pb::HashResponse*) override {
    if (auto s = c_.gate(*req); !s.ok()) return s;
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                        "raftkv: Hash is not supported (it hashes etcd's bbolt file); use HashKV");
  }

  grpc::Status HashKV(grpc::ServerContext*, const pb::HashKVRequest* req,
                      pb::HashKVResponse* resp) override {
    if (auto s = c_.gate(*req); !s.ok()) return s;
    uint32_t hash = 0;
    int64_t compact = 0;
    if (auto s = c_.sm->hash_kv(req->revision(), &hash, &compact); !s.ok()) return s;
    resp->set_hash(hash);
    resp->set_compact_revision(compact);
    c_.header(resp->mutable_header());
    resp->mutable_header()->set_revision(c_.sm->revision());
    return grpc::Status::OK;
  }

  grpc::Status Snapshot(grpc::ServerContext*, const pb::SnapshotRequest*,
                        grpc::ServerWriter<pb::SnapshotResponse>*) override {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                        "raftkv: snapshot save is not supported (etcd's bbolt format); raftkv "
                        "keeps its own snapshots in the data directory");
  }

  grpc::Status MoveLeader(grpc::ServerContext*, const pb::MoveLeaderRequest* req,
                          pb::MoveLeaderResponse* resp) override {
    if (auto s = c_.gate(*req); !s.ok()) return s;
    const raft::Membership m = c_.sm->membership();
    const raft::NodeId to(req->targetid());
    if (!m.is_voter(to)) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "etcdserver: bad leader transferee");
    }
    if (to != c_.node->leader()) {
      if (auto s = c_.node->transfer_leadership(to, c_.config->request_timeout); !s.ok()) {
        return to_grpc(s);
      }
    }
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

 private:
  Context c_;
};

class AdminService final : public raftkv::admin::Admin::Service {
 public:
  explicit AdminService(Context c) : c_(c) {}

  grpc::Status GetTimeouts(grpc::ServerContext*, const raftkv::admin::GetTimeoutsRequest*,
                           raftkv::admin::Timeouts* resp) override {
    to_pb(c_.node->timeouts(), resp);
    return grpc::Status::OK;
  }

  grpc::Status SetTimeouts(grpc::ServerContext*, const raftkv::admin::Timeouts* req,
                           raftkv::admin::Timeouts* resp) override {
    const node::TimeoutsMs t{req->heartbeat_ms(), req->election_min_ms(), req->election_max_ms()};
    if (auto s = c_.node->update_timeouts(t, c_.config->request_timeout); !s.ok()) {
      return to_grpc(s);
    }
    to_pb(t, resp);
    return grpc::Status::OK;
  }

  grpc::Status TransferLeadership(grpc::ServerContext*,
                                  const raftkv::admin::TransferLeadershipRequest* req,
                                  raftkv::admin::TransferLeadershipResponse* resp) override {
    const raft::NodeId to(req->target_id());
    if (!c_.sm->membership().is_voter(to)) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "node " + hex(req->target_id()) + " is not a voting member");
    }
    if (to != c_.node->leader()) {
      if (auto s = c_.node->transfer_leadership(to, c_.config->request_timeout); !s.ok()) {
        return to_grpc(s);
      }
    }
    // transfer_leadership returns once `to` leads; this member (a follower, or the old
    // leader) may not have heard from the new leader yet, so its own view can still be
    // "no leader" for a moment.
    resp->set_leader(to.value());
    return grpc::Status::OK;
  }

  grpc::Status Status(grpc::ServerContext*, const raftkv::admin::StatusRequest*,
                      raftkv::admin::StatusResponse* resp) override {
    const node::NodeState st = c_.node->status();
    resp->set_cluster_id(c_.config->cluster_id);
    resp->set_id(c_.config->node.id.value());
    resp->set_name(c_.config->node.name);
    resp->set_role(std::string(raft::role_name(st.core.role)));
    resp->set_term(st.core.term.value());
    resp->set_leader(st.core.leader.value());
    resp->set_commit(st.core.commit.value());
    resp->set_applied(st.applied.value());
    resp->set_last_index(st.core.last_index.value());
    resp->set_snapshot_index(st.snapshot_index.value());
    resp->set_learner(st.membership.learners.contains(c_.config->node.id));
    to_pb(st.timeouts, resp->mutable_timeouts());
    for (const raft::PeerStatus& p : st.core.peers) {
      raftkv::admin::PeerProgress* pp = resp->add_peers();
      pp->set_id(p.id.value());
      pp->set_match(p.match.value());
      pp->set_next(p.next.value());
      pp->set_voter(p.voter);
      pp->set_recent_active(p.recent_active);
    }
    resp->set_revision(c_.sm->revision());
    return grpc::Status::OK;
  }

 private:
  static void to_pb(const node::TimeoutsMs& t, raftkv::admin::Timeouts* out) {
    out->set_heartbeat_ms(t.heartbeat_ms);
    out->set_election_min_ms(t.election_min_ms);
    out->set_election_max_ms(t.election_max_ms);
  }
  static std::string hex(uint64_t id) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
    return buf;
  }
  Context c_;
};

}  // namespace

uint64_t member_id(const std::string& cluster_token, const std::string& peer_url) {
  const std::string key = cluster_token + "\n" + peer_url;
  uint64_t id = XXH3_64bits(key.data(), key.size());
  return id == 0 ? 1 : id;
}

uint64_t cluster_id(const std::string& cluster_token, const std::vector<MemberSpec>& members) {
  std::vector<uint64_t> ids;
  for (const MemberSpec& m : members) ids.push_back(m.id);
  std::sort(ids.begin(), ids.end());
  std::string key = cluster_token;
  for (uint64_t id : ids) key += "\n" + std::to_string(id);
  uint64_t id = XXH3_64bits(key.data(), key.size());
  return id == 0 ? 1 : id;
}

absl::StatusOr<std::string> url_to_address(const std::string& url) {
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    return absl::InvalidArgumentError("URL " + url + ": TLS is not supported yet; use http://");
  } else {
    return absl::InvalidArgumentError("URL " + url + " must start with http://");
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size()) {
    return absl::InvalidArgumentError("URL " + url + " must be http://host:port");
  }
  const std::string port = rest.substr(colon + 1);
  if (port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) ||
      std::stoi(port) > 65535) {
    return absl::InvalidArgumentError("URL " + url + ": port " + port +
                                      " is not a number in [0, 65535]");
  }
  if (rest.find('/') != std::string::npos) {
    return absl::InvalidArgumentError("URL " + url + " must not have a path");
  }
  return rest;
}

absl::StatusOr<std::unique_ptr<Server>> Server::start(ServerConfig config) {
  std::unique_ptr<Server> s(new Server());
  s->config_ = std::move(config);
  const ServerConfig& cfg = s->config_;
  s->sm_ = std::make_unique<KvStateMachine>(cfg.store);

  transport::GrpcTransportOptions topts;
  topts.self = cfg.node.id;
  topts.cluster_id = cfg.cluster_id;
  topts.listen_address = cfg.node.peer_address;
  s->transport_ = std::make_unique<transport::GrpcTransport>(topts);
  transport::GrpcTransport* t = s->transport_.get();

  std::vector<in::MemberAttributes> seeds;
  for (const MemberSpec& m : cfg.initial_cluster) {
    in::MemberAttributes a;
    a.set_id(m.id);
    a.set_name(m.name);
    for (const std::string& u : m.peer_urls) a.add_peer_urls(u);
    seeds.push_back(a);
  }
  s->sm_->set_self(cfg.node.id);
  s->sm_->set_member_listener([t, self = cfg.node.id](const in::MemberAttributes& m) {
    if (m.peer_urls_size() == 0 || raft::NodeId(m.id()) == self) return;
    if (auto addr = url_to_address(m.peer_urls(0)); addr.ok())
      t->set_peer(raft::NodeId(m.id()), *addr);
  });

  auto node = node::RaftNode::open(cfg.node, s->sm_.get(), t);
  if (!node.ok()) return node.status();
  s->node_ = *std::move(node);
  s->node_->set_removed_handler([p = s.get()](const std::string& why) { p->removed(why); });
  // Attributes from the flags fill in what the log has not said yet (after a restore,
  // the log's attributes win).
  s->sm_->seed_members(seeds);
  for (const in::MemberAttributes& m : seeds) {
    if (raft::NodeId(m.id()) == cfg.node.id || m.peer_urls_size() == 0) continue;
    if (auto addr = url_to_address(m.peer_urls(0)); addr.ok())
      t->set_peer(raft::NodeId(m.id()), *addr);
  }
  for (const pb::Member& m : s->sm_->members()) {
    if (raft::NodeId(m.id()) == cfg.node.id || m.peerurls_size() == 0) continue;
    if (auto addr = url_to_address(m.peerurls(0)); addr.ok())
      t->set_peer(raft::NodeId(m.id()), *addr);
  }

  auto peer_port = t->start(s->node_.get());
  if (!peer_port.ok()) return peer_port.status();
  s->peer_port_ = *peer_port;

  Context ctx{&s->config_, s->node_.get(), s->sm_.get()};
  s->services_.push_back(std::make_unique<KvService>(ctx));
  s->services_.push_back(std::make_unique<WatchService>(ctx, &s->stopping_));
  s->services_.push_back(std::make_unique<LeaseService>(ctx));
  s->services_.push_back(std::make_unique<ClusterService>(ctx));
  s->services_.push_back(std::make_unique<MaintenanceService>(ctx));
  s->services_.push_back(std::make_unique<AdminService>(ctx));
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(cfg.node.client_address, grpc::InsecureServerCredentials(), &port);
  // A port another process (or our own metrics listener) holds is an error, as in etcd:
  // with SO_REUSEPORT the kernel would silently split connections between the two.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // etcd's client-facing settings (reference/etcd-api.md 1.7): clients ping every 10 s
  // or so and must not be sent GOAWAY for it; requests up to max-request-bytes plus
  // framing; any response size.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 2 * 60 * 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  builder.SetMaxReceiveMessageSize(static_cast<int>(cfg.node.max_request_bytes + 512 * 1024));
  builder.SetMaxSendMessageSize(INT32_MAX);
  for (auto& svc : s->services_) builder.RegisterService(svc.get());
  s->grpc_ = builder.BuildAndStart();
  if (s->grpc_ == nullptr || port == 0) {
    t->stop();
    return absl::UnavailableError("cannot listen for clients on " + cfg.node.client_address);
  }
  s->client_port_ = port;
  s->node_->start();
  if (!cfg.node.metrics_address.empty()) {
    auto http = HttpEndpoint::start(
        cfg.node.metrics_address,
        {[p = s.get()] { return p->health(); }, [p = s.get()] { return p->metrics(); }});
    if (!http.ok()) return http.status();  // the destructor stops what started
    s->http_ = *std::move(http);
    s->metrics_port_ = s->http_->port();
  }
  s->lease_thread_ = std::thread([p = s.get()] { p->lease_loop(); });
  s->publish_thread_ = std::thread([p = s.get()] { p->publish_loop(); });
  return s;
}

Server::~Server() { stop(); }

void Server::stop() {
  if (stopping_.exchange(true)) return;
  if (http_ != nullptr) http_->stop();
  // The node first: requests waiting on it (callback RPCs among them) fail at once with
  // "server stopped", so the gRPC shutdown has nothing left to wait for.
  if (node_ != nullptr) node_->stop();
  if (grpc_ != nullptr) {
    grpc_->Shutdown(std::chrono::system_clock::now() + Millis(1000));
  }
  if (lease_thread_.joinable()) lease_thread_.join();
  if (publish_thread_.joinable()) publish_thread_.join();
  if (transport_ != nullptr) transport_->stop();
  if (grpc_ != nullptr) grpc_->Wait();
}

void Server::lease_loop() {
  // Only the leader expires leases, and it does so through the log (a revoke), so every
  // replica deletes the same keys at the same revision.
  bool was_member = false;
  while (!stopping_) {
    std::this_thread::sleep_for(Millis(200));
    // A member that the applied configuration no longer names was removed: it must
    // stop serving (etcd's removed members exit). A joining node is not a member yet.
    const raft::Membership m = sm_->membership();
    if (m.contains(config_.node.id)) {
      was_member = true;
    } else if (was_member && !m.voters.empty()) {
      removed("this member is not in the applied configuration");
    }
    if (!node_->is_leader()) continue;
    for (int64_t id : sm_->expired_leases()) {
      if (stopping_) return;
      in::Command c;
      c.mutable_lease_revoke()->set_id(id);
      (void)node_->client_write(c.SerializeAsString(), config_.request_timeout);
    }
  }
}

HttpResponse Server::health() {
  std::string reason;
  if (node_->leader() == raft::NodeId()) {
    reason = "RAFT NO LEADER";
  } else if (!sm_->alarms().empty()) {
    reason = "ALARM NOSPACE";
  } else if (absl::Status s = node_->linearizable_read(Millis(1000)); !s.ok()) {
    reason = std::string(s.message());
  }
  const bool ok = reason.empty();
  return {ok ? 200 : 503, "application/json",
          std::string("{\"health\":\"") + (ok ? "true" : "false") + "\",\"reason\":\"" + reason +
              "\"}"};
}

HttpResponse Server::metrics() {
  const node::NodeState st = node_->status();
  std::string out;
  auto metric = [&out](const char* name, const char* type, const char* help, double value) {
    char line[64];
    std::snprintf(line, sizeof line, "%.17g", value);
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
           name + " " + line + "\n";
  };
  const bool leader = st.core.role == raft::Role::kLeader;
  metric("etcd_server_has_leader", "gauge", "Whether or not a leader exists. 1 is existence.",
         st.core.leader != raft::NodeId() ? 1 : 0);
  metric("etcd_server_is_leader", "gauge", "Whether or not this member is the leader.",
         leader ? 1 : 0);
  metric("etcd_server_is_learner", "gauge", "Whether or not this member is a learner.",
         st.membership.learners.count(config_.node.id) != 0 ? 1 : 0);
  metric("raftkv_raft_term", "gauge", "The current Raft term.", double(st.core.term.value()));
  metric("raftkv_raft_commit_index", "gauge", "The highest log index known committed.",
         double(st.core.commit.value()));
  metric("raftkv_raft_applied_index", "gauge", "The highest log index applied here.",
         double(st.applied.value()));
  metric("raftkv_raft_last_index", "gauge", "The last index in this member's log.",
         double(st.core.last_index.value()));
  metric("raftkv_snapshot_index", "gauge", "The index the latest snapshot covers.",
         double(st.snapshot_index.value()));
  metric("raftkv_wal_fsyncs_total", "counter", "WAL fsyncs since start.", double(st.wal_syncs));
  metric("raftkv_mvcc_revision", "gauge", "The store's current revision.", double(sm_->revision()));
  metric("raftkv_mvcc_size_bytes", "gauge", "The store's estimated size in bytes.",
         double(sm_->size_bytes()));
  return {200, "text/plain; version=0.0.4", out};
}

void Server::removed(const std::string& why) {
  if (removed_told_.exchange(true)) return;
  std::fprintf(stderr, "raftkv: this member was removed from the cluster (%s); stopping\n",
               why.c_str());
  if (config_.on_removed) config_.on_removed();
}

void Server::publish_loop() {
  // Tell the cluster this member's name and client URLs (etcd publishes them the same
  // way), retrying until the write commits.
  in::Command c;
  in::MemberAttributes* a = c.mutable_member_attributes();
  a->set_id(config_.node.id.value());
  a->set_name(config_.node.name);
  for (const std::string& u : config_.advertise_client_urls) a->add_client_urls(u);
  for (const std::string& u : config_.advertise_peer_urls) a->add_peer_urls(u);
  while (!stopping_) {
    absl::StatusOr<std::string> r = node_->client_write(c.SerializeAsString(), Millis(2000));
    if (r.ok()) return;
    for (int i = 0; i < 10 && !stopping_; ++i) std::this_thread::sleep_for(Millis(50));
  }
}

}  // namespace server
