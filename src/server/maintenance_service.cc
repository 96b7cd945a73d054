// etcd's Maintenance service: alarms, status, hashes, snapshots, leadership moves.
#include <grpcpp/grpcpp.h>

#include "etcd/rpc.grpc.pb.h"
#include "node/raft_node.h"
#include "raftkv/internal.pb.h"
#include "server/context.h"
#include "server/errors.h"
#include "server/etcd_version.h"
#include "server/kv_state_machine.h"
#include "server/services.h"
#include "server/snapshot_stream.h"

namespace server {
namespace {

namespace pb = etcdserverpb;
namespace in = raftkv::internal;

class MaintenanceService {
 public:
  explicit MaintenanceService(Context c) : c_(c) {}

  grpc::Status Alarm(grpc::ServerContext* ctx, const pb::AlarmRequest* req,
                     pb::AlarmResponse* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    if (req->action() == pb::AlarmRequest::GET) {
      for (const auto& a : c_.sm->alarms()) *resp->add_alarms() = a;
      c_.header(resp->mutable_header());
      resp->mutable_header()->set_revision(c_.sm->revision());
      return grpc::Status::OK;
    }
    in::Command c;
    *c.mutable_alarm() = *req;
    in::Result r;
    if (auto s = c_.write(admitted.who, c, &r); !s.ok()) return s;
    *resp = r.alarm();
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

  grpc::Status Status(grpc::ServerContext* ctx, const pb::StatusRequest* req,
                      pb::StatusResponse* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    const node::NodeState st = c_.node->status();
    resp->set_version(std::string(kEtcdServerVersion));
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

  grpc::Status Defragment(grpc::ServerContext* ctx, const pb::DefragmentRequest* req,
                          pb::DefragmentResponse* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    // The store lives in memory: there is nothing to defragment.
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

  grpc::Status Hash(grpc::ServerContext* ctx, const pb::HashRequest* req, pb::HashResponse*) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                        "raftkv: Hash is not supported (it hashes etcd's bbolt file); use HashKV");
  }

  grpc::Status HashKV(grpc::ServerContext* ctx, const pb::HashKVRequest* req,
                      pb::HashKVResponse* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    uint32_t hash = 0;
    int64_t compact = 0;
    if (auto s = c_.sm->hash_kv(req->revision(), &hash, &compact); !s.ok()) return s;
    resp->set_hash(hash);
    resp->set_compact_revision(compact);
    c_.header(resp->mutable_header());
    resp->mutable_header()->set_revision(c_.sm->revision());
    return grpc::Status::OK;
  }

  // The member's state now, as raftkv's own snapshot format (what a Raft snapshot holds:
  // keys with their history, leases, members, alarms, auth), streamed as etcd streams its
  // backend file: chunks, then the SHA-256 etcdctl checks (snapshot_stream.h). The gate
  // asks RBAC for the `snapshot` action with auth on (root, or a policy that allows it)
  // and holds the limiter's permit until the last message is out.
  grpc::Status Snapshot(grpc::ServerContext* ctx, const pb::SnapshotRequest* req,
                        BlockingStream<grpc::ServerAsyncWriter<pb::SnapshotResponse>,
                                       pb::SnapshotRequest, pb::SnapshotResponse>* writer) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    int64_t revision = 0;
    // One copy, taken under the state machine's lock (as a Raft snapshot is); the stream
    // then reads from it while applies go on.
    const std::string data = c_.sm->snapshot(&revision);
    SnapshotStream stream(data);
    pb::SnapshotResponse resp;
    while (stream.next(&resp)) {
      // etcdctl 3.5+ reads the header of the first message; every one carries it.
      c_.header(resp.mutable_header());
      resp.mutable_header()->set_revision(revision);
      if (writer->cancelled() || !writer->Write(resp)) {
        return grpc::Status(grpc::StatusCode::CANCELLED,
                            "raftkv: the client stopped reading the snapshot stream");
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status MoveLeader(grpc::ServerContext* ctx, const pb::MoveLeaderRequest* req,
                          pb::MoveLeaderResponse* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    const raft::Membership m = c_.sm->membership();
    const raft::NodeId to(req->targetid());
    if (!m.is_voter(to)) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "etcdserver: bad leader transferee");
    }
    if (to != c_.node->leader()) {
      if (auto s = c_.node->transfer_leadership(to, c_.config->request_timeout, admitted.who.user);
          !s.ok()) {
        return to_grpc(s);
      }
    }
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

 private:
  Context c_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_maintenance_service(Context c,
                                                        CompletionQueueMethods* methods) {
  using Service = pb::Maintenance::AsyncService;
  auto service = std::make_unique<Service>();
  auto impl = std::make_shared<MaintenanceService>(c);
  methods->blocking(service.get(), &Service::RequestAlarm, impl, &MaintenanceService::Alarm);
  methods->blocking(service.get(), &Service::RequestStatus, impl, &MaintenanceService::Status);
  methods->blocking(service.get(), &Service::RequestDefragment, impl,
                    &MaintenanceService::Defragment);
  methods->blocking(service.get(), &Service::RequestHash, impl, &MaintenanceService::Hash);
  methods->blocking(service.get(), &Service::RequestHashKV, impl, &MaintenanceService::HashKV);
  methods->blocking_server_stream(
      service.get(), &Service::RequestSnapshot,
      [impl](auto* ctx, auto* req, auto* stream) { return impl->Snapshot(ctx, req, stream); });
  methods->blocking(service.get(), &Service::RequestMoveLeader, impl,
                    &MaintenanceService::MoveLeader);
  return service;
}

}  // namespace server
