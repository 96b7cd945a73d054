// One raftkv server in this process (a one-node cluster that still commits through its
// log), driven by etcd's own gRPC stubs: the fields clients read, the exact error codes
// and strings they match, and the limits the server enforces.
#include "server/server.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "etcd/rpc.grpc.pb.h"
#include "node/node_error.h"
#include "raftkv/admin.grpc.pb.h"
#include "raftkv_version.h"
#include "server/errors.h"
#include "server/kv_state_machine.h"
#include "server/snapshot_stream.h"

namespace server {
namespace {

namespace pb = etcdserverpb;
using std::chrono::milliseconds;

class ServerTest : public ::testing::Test {
 protected:
  // What a fixture changes in the configuration before the server starts.
  virtual void configure(ServerConfig&) {}
  // Whether the fixture waits for the one-member cluster's first write.
  virtual bool warm_up() { return true; }
  // What the fixture's channel to the client port dials with.
  virtual std::shared_ptr<grpc::ChannelCredentials> client_credentials() {
    return grpc::InsecureChannelCredentials();
  }

  void SetUp() override {
    char pattern[] = "/tmp/raftkv-server-XXXXXX";
    dir_ = mkdtemp(pattern);
    ServerConfig cfg;
    cfg.cluster_token = "test";
    cfg.cluster_id = cluster_id("test", {});
    cfg.node.id = raft::NodeId(member_id("test", "http://127.0.0.1:1"));
    cfg.node.name = "solo";
    cfg.node.data_dir = dir_ + "/data";
    cfg.node.client_address = "127.0.0.1:0";
    cfg.node.peer_address = "127.0.0.1:0";
    cfg.node.metrics_address = "127.0.0.1:0";
    cfg.node.tick_ms = 5;
    cfg.node.timeouts = node::TimeoutsMs{20, 100, 200};
    cfg.node.bootstrap.voters = {cfg.node.id};
    cfg.node.max_request_bytes = 64 * 1024;
    cfg.store.min_lease_ttl = 1;
    cfg.store.quota_bytes = 256 * 1024;
    cfg.initial_cluster = {MemberSpec{cfg.node.id.value(), "solo", {"http://127.0.0.1:1"}}};
    cfg.advertise_client_urls = {"http://127.0.0.1:2379"};
    id_ = cfg.node.id.value();
    configure(cfg);
    auto s = Server::start(cfg);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->client_port()),
                                   client_credentials());
    kv_ = pb::KV::NewStub(channel_);
    if (!warm_up()) return;
    // The first write waits for the one-node election (bounded by the request timeout).
    pb::PutResponse r;
    grpc::Status warm = put("warmup", "x", &r);
    ASSERT_TRUE(warm.ok()) << warm.error_message();
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<grpc::ClientContext> ctx() {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + milliseconds(5000));
    return c;
  }
  grpc::Status put(const std::string& k, const std::string& v, pb::PutResponse* r,
                   int64_t lease = 0) {
    pb::PutRequest req;
    req.set_key(k);
    req.set_value(v);
    req.set_lease(lease);
    return kv_->Put(ctx().get(), req, r);
  }
  // The member publishes its attributes (client URLs) through the log in its first
  // housekeeping rounds; a test that counts log entries waits for that write first.
  pb::MemberListResponse wait_for_published_attributes() {
    auto cluster = pb::Cluster::NewStub(channel_);
    pb::MemberListResponse ml;
    for (int i = 0; i < 250; ++i) {
      EXPECT_TRUE(cluster->MemberList(ctx().get(), pb::MemberListRequest(), &ml).ok());
      if (ml.members_size() == 1 && ml.members(0).clienturls_size() > 0) break;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return ml;
  }
  void expect_header(const pb::ResponseHeader& h) {
    EXPECT_EQ(h.member_id(), id_);
    EXPECT_NE(h.cluster_id(), 0u);
    EXPECT_GE(h.raft_term(), 1u);
  }

  std::string dir_;
  uint64_t id_ = 0;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::KV::Stub> kv_;
};

TEST_F(ServerTest, PutAndRangeCarryTheFullHeaderAndEtcdsRevisions) {
  pb::PutResponse p;
  ASSERT_TRUE(put("k", "v1", &p).ok());
  expect_header(p.header());
  const int64_t rev = p.header().revision();
  pb::RangeRequest rr;
  rr.set_key("k");
  pb::RangeResponse r;
  ASSERT_TRUE(kv_->Range(ctx().get(), rr, &r).ok());
  expect_header(r.header());
  EXPECT_EQ(r.header().revision(), rev);
  ASSERT_EQ(r.kvs_size(), 1);
  EXPECT_EQ(r.kvs(0).value(), "v1");
  EXPECT_EQ(r.kvs(0).create_revision(), rev);
  EXPECT_EQ(r.kvs(0).version(), 1);
  // Serializable reads are served locally and see the same state here.
  rr.set_serializable(true);
  ASSERT_TRUE(kv_->Range(ctx().get(), rr, &r).ok());
  EXPECT_EQ(r.kvs(0).value(), "v1");
}

// The completion-queue API answers only the methods the server asks gRPC for: a method
// of the protos left unregistered would wait until its deadline. Each method of each
// client service, called with an empty request (a stream: one empty message, then the
// client closes its side), answers at once: never DEADLINE_EXCEEDED, nor gRPC's own
// UNIMPLEMENTED.
// The client services, and the peer service beside them on the member's gRPC server.
const std::vector<const char*> kClientServices = {
    "etcdserverpb.KV",          "etcdserverpb.Watch", "etcdserverpb.Lease", "etcdserverpb.Cluster",
    "etcdserverpb.Maintenance", "etcdserverpb.Auth",  "raftkv.admin.Admin"};
const std::vector<const char*> kPeerServices = {"raftkv.peer.Peer"};

// Calls every method of `services` through a generic stub with an empty request (a
// stream: one empty message, then its end), each within 5 s: the status of each, by path.
std::map<std::string, grpc::Status> call_every_method(std::shared_ptr<grpc::Channel> channel,
                                                      const std::vector<const char*>& services) {
  const google::protobuf::DescriptorPool* pool = google::protobuf::DescriptorPool::generated_pool();
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  // Waits for `tag` (one operation at a time here); whether it succeeded.
  auto done = [&](void* tag) {
    void* got = nullptr;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&got, &ok));
    EXPECT_EQ(got, tag);
    return ok;
  };
  std::map<std::string, grpc::Status> answers;
  for (const char* name : services) {
    const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName(name);
    EXPECT_NE(service, nullptr) << name;
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* m = service->method(i);
      const std::string path = "/" + std::string(name) + "/" + m->name();
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      grpc::Slice empty("");
      grpc::ByteBuffer request(&empty, 1);
      grpc::Status status;
      void* const tag = &ctx;
      if (!m->client_streaming() && !m->server_streaming()) {
        auto call = stub.PrepareUnaryCall(&ctx, path, request, &cq);
        call->StartCall();
        grpc::ByteBuffer response;
        call->Finish(&response, &status, tag);
        done(tag);
      } else {
        auto call = stub.PrepareCall(&ctx, path, &cq);
        call->StartCall(tag);
        done(tag);
        call->Write(request, tag);
        done(tag);
        call->WritesDone(tag);
        done(tag);
        grpc::ByteBuffer response;
        for (int n = 0; n < 10'000; ++n) {
          call->Read(&response, tag);
          if (!done(tag)) break;
        }
        call->Finish(&status, tag);
        done(tag);
      }
      answers[path] = status;
    }
  }
  return answers;
}

TEST_F(ServerTest, EveryMethodOfEveryClientServiceAnswers) {
  const std::map<std::string, grpc::Status> answers = call_every_method(channel_, kClientServices);
  for (const auto& [path, status] : answers) {
    EXPECT_NE(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << path;
    // gRPC's own answer to a method it does not serve has no message; raftkv's refusals
    // (Maintenance.Hash) say why.
    if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      EXPECT_FALSE(status.error_message().empty()) << path;
    }
  }
  EXPECT_EQ(answers.size(), 5u + 1 + 5 + 5 + 7 + 17 + 9);  // as the protos list them
}

// One gRPC server serves the client and the peer ports: a client port must not reach the
// peer service (a forged Raft frame), nor a peer port the client services. `client` and
// `peer` are channels to the two ports.
void expect_each_port_serves_its_own_services(std::shared_ptr<grpc::Channel> client,
                                              std::shared_ptr<grpc::Channel> peer) {
  for (const auto& [path, status] : call_every_method(client, kPeerServices)) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << path;
    EXPECT_EQ(status.error_message(),
              "the peer service (raftkv.peer.Peer) is served on peer ports only, and this call "
              "came in on another port")
        << path;
  }
  const std::map<std::string, grpc::Status> on_peer = call_every_method(peer, kClientServices);
  EXPECT_EQ(on_peer.size(), 49u);
  for (const auto& [path, status] : on_peer) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << path;
    EXPECT_EQ(status.error_message(),
              "the client services are served on client ports only, and this call came in on "
              "another port")
        << path;
  }
  // Each port still serves its own: the peer port the cluster's description, the client
  // port a write.
  const std::map<std::string, grpc::Status> info = call_every_method(peer, kPeerServices);
  EXPECT_TRUE(info.at("/raftkv.peer.Peer/ClusterInfo").ok())
      << info.at("/raftkv.peer.Peer/ClusterInfo").error_message();
  pb::PutRequest put;
  put.set_key("own-port");
  pb::PutResponse r;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  EXPECT_TRUE(pb::KV::NewStub(client)->Put(&ctx, put, &r).ok());
}

TEST_F(ServerTest, EachPortServesItsOwnServicesAlone) {
  expect_each_port_serves_its_own_services(
      channel_, grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->peer_port()),
                                    grpc::InsecureChannelCredentials()));
}

// The same over TLS: both ports are gRPC's own listeners, told apart by their credentials.
class TlsServerTest : public ServerTest {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(std::filesystem::temp_directory_path() /
                           ("raftkv-server-tls-" + std::to_string(::getpid())));
    std::filesystem::create_directories(*dir_);
    const std::string cd = "cd " + *dir_ + " && ";
    std::ofstream(*dir_ + "/ext.cnf") << "subjectAltName = IP:127.0.0.1\n";
    for (const std::string cmd :
         {"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key "
          "-out ca.pem -days 2 -subj /CN=ca",
          "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout m.key -out "
          "m.csr -subj /CN=solo",
          "openssl x509 -req -in m.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out m.pem "
          "-days 2 -extfile ext.cnf"}) {
      ASSERT_EQ(std::system((cd + cmd + " >/dev/null 2>&1").c_str()), 0) << cmd;
    }
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  static TlsFlags flags() {
    return TlsFlags{.cert_file = *dir_ + "/m.pem",
                    .key_file = *dir_ + "/m.key",
                    .trusted_ca_file = *dir_ + "/ca.pem"};
  }
  static std::shared_ptr<grpc::ChannelCredentials> tls() {
    std::ifstream in(*dir_ + "/ca.pem");
    std::ostringstream ca;
    ca << in.rdbuf();
    return grpc::SslCredentials(grpc::SslCredentialsOptions{.pem_root_certs = ca.str()});
  }
  void configure(ServerConfig& cfg) override {
    cfg.client_tls = flags();
    cfg.peer_tls = flags();
  }
  std::shared_ptr<grpc::ChannelCredentials> client_credentials() override { return tls(); }

  static std::string* dir_;
};
std::string* TlsServerTest::dir_ = nullptr;

TEST_F(TlsServerTest, EachPortServesItsOwnServicesAlone) {
  expect_each_port_serves_its_own_services(
      channel_, grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->peer_port()), tls()));
}

TEST_F(ServerTest, ErrorsUseEtcdsCodesAndExactMessages) {
  pb::PutResponse p;
  grpc::Status s = put("", "v", &p);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "etcdserver: key is not provided");

  pb::RangeRequest rr;
  rr.set_key("k");
  rr.set_revision(1'000'000);
  pb::RangeResponse r;
  s = kv_->Range(ctx().get(), rr, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(s.error_message(), "etcdserver: mvcc: required revision is a future revision");

  auto lease = pb::Lease::NewStub(channel_);
  pb::LeaseRevokeRequest rv;
  rv.set_id(12345);
  pb::LeaseRevokeResponse rvr;
  s = lease->LeaseRevoke(ctx().get(), rv, &rvr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "etcdserver: requested lease not found");

  pb::TxnRequest txn;
  for (int i = 0; i < 2; ++i) {
    auto* op = txn.add_success()->mutable_request_put();
    op->set_key("same");
    op->set_value("x");
  }
  pb::TxnResponse tr;
  s = kv_->Txn(ctx().get(), txn, &tr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "etcdserver: duplicate key given in txn request");
}

TEST_F(ServerTest, ARequestAboveMaxRequestBytesIsRefusedAndChangesNothing) {
  pb::PutResponse p;
  grpc::Status s = put("big", std::string(65 * 1024, 'x'), &p);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "etcdserver: request is too large");
  pb::RangeRequest rr;
  rr.set_key("big");
  pb::RangeResponse r;
  ASSERT_TRUE(kv_->Range(ctx().get(), rr, &r).ok());
  EXPECT_EQ(r.count(), 0);
}

TEST_F(ServerTest, HandedOverClientConnectionsKeepTheServersChannelArguments) {
  // The client port hands connections to gRPC by descriptor (port_mux.h); the builder's
  // arguments must still govern them. Above max_request_bytes + 512 KiB, gRPC itself
  // refuses the message (had its 4 MiB default applied instead, the gate would answer
  // "request is too large").
  pb::PutResponse p;
  grpc::Status s = put("huge", std::string(700 * 1024, 'x'), &p);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("Received message larger than max"), std::string::npos)
      << s.error_message();
}

TEST_F(ServerTest, TheClientPortAnswersHealthAndVersionOverHttp1BesideGrpc) {
  httplib::Client http("127.0.0.1", server_->client_port());
  auto health = http.Get("/health");
  ASSERT_TRUE(health) << httplib::to_string(health.error());
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, R"({"health":"true","reason":""})");
  auto version = http.Get("/version");
  ASSERT_TRUE(version);
  EXPECT_EQ(version->status, 200);
  EXPECT_EQ(version->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(version->body, R"({"etcdserver":"3.5.0","etcdcluster":"3.5.0","raftkv":")" +
                               std::string(raftkv::kVersion) + R"(","raftkvcommit":")" +
                               std::string(raftkv::git_commit()) + R"("})");
  auto post = http.Post("/health", "", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->get_header_value("Allow"), "GET");
  // Only the probes: the metrics port's pages are not served here.
  for (const char* path : {"/metrics", "/v1/status", "/", "/nothing"}) {
    auto r = http.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 404) << path;
  }
  // gRPC on the same port, after HTTP/1.1 was served there.
  pb::PutResponse p;
  EXPECT_TRUE(put("after-http", "v", &p).ok());
}

TEST_F(ServerTest, SnapshotStreamsThisMembersStateInAFileRaftkvCanReadBack) {
  pb::PutResponse p;
  ASSERT_TRUE(put("snap/k", "v1", &p).ok());
  auto maint = pb::Maintenance::NewStub(channel_);
  auto c = ctx();
  auto reader = maint->Snapshot(c.get(), pb::SnapshotRequest());
  std::string file;
  pb::SnapshotResponse resp;
  int messages = 0;
  while (messages < 100000 && reader->Read(&resp)) {
    ++messages;
    expect_header(resp.header());  // etcdctl 3.5+ reads the first one's
    EXPECT_GE(resp.header().revision(), p.header().revision());
    file += resp.blob();
  }
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_GE(messages, 2);
  EXPECT_EQ(file.size() % 512, 32u);
  auto data = read_snapshot_file(file);
  ASSERT_TRUE(data.ok()) << data.status();
  // A fresh state machine restored from it holds the key.
  KvStateMachine restored{kv::StoreOptions{}};
  ASSERT_TRUE(restored.restore(*data).ok());
  pb::RangeRequest rr;
  rr.set_key("snap/k");
  pb::RangeResponse r;
  ASSERT_TRUE(restored.range(rr, &r).ok());
  ASSERT_EQ(r.kvs_size(), 1);
  EXPECT_EQ(r.kvs(0).value(), "v1");
}

TEST_F(ServerTest, OverTheQuotaWritesFailWithNospaceWhileReadsAndDeletesWork) {
  pb::PutResponse p;
  grpc::Status s;
  int written = 0;
  for (int i = 0; i < 100; ++i) {
    s = put("fill" + std::to_string(i), std::string(60 * 1024, 'x'), &p);
    if (!s.ok()) break;
    ++written;
  }
  ASSERT_FALSE(s.ok());
  EXPECT_GT(written, 0);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(s.error_message(), "etcdserver: mvcc: database space exceeded");
  auto maint = pb::Maintenance::NewStub(channel_);
  pb::AlarmRequest ar;
  pb::AlarmResponse alarms;
  ASSERT_TRUE(maint->Alarm(ctx().get(), ar, &alarms).ok());
  ASSERT_EQ(alarms.alarms_size(), 1);
  EXPECT_EQ(alarms.alarms(0).alarm(), pb::NOSPACE);
  EXPECT_EQ(alarms.alarms(0).memberid(), id_);  // the member's own id, as etcd records it
  pb::DeleteRangeResponse dr;
  for (int i = 0; i < written; ++i) {
    pb::DeleteRangeRequest del;
    del.set_key("fill" + std::to_string(i));
    ASSERT_TRUE(kv_->DeleteRange(ctx().get(), del, &dr).ok());
    EXPECT_EQ(dr.deleted(), 1);
  }
  pb::CompactionRequest compact;
  compact.set_revision(dr.header().revision());
  pb::CompactionResponse cr;
  ASSERT_TRUE(kv_->Compact(ctx().get(), compact, &cr).ok());
  // Space is free again, but the alarm stays armed: writes wait for someone to disarm it
  // (etcd's rule), and /health agrees with what writes get.
  s = put("after", "v", &p);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(s.error_message(), "etcdserver: mvcc: database space exceeded");
  pb::AlarmRequest disarm;
  disarm.set_action(pb::AlarmRequest::DEACTIVATE);
  disarm.set_memberid(id_);
  disarm.set_alarm(pb::NOSPACE);
  ASSERT_TRUE(maint->Alarm(ctx().get(), disarm, &alarms).ok());
  EXPECT_TRUE(put("after", "v", &p).ok());
}

TEST_F(ServerTest, AnArmedAlarmStopsTheWritesItCapsBeforeTheyReachTheLog) {
  auto maint = pb::Maintenance::NewStub(channel_);
  auto raft_index = [&] {
    pb::StatusResponse st;
    EXPECT_TRUE(maint->Status(ctx().get(), pb::StatusRequest(), &st).ok());
    return st.raftindex();
  };
  // The member's own first write (its attributes) would otherwise land at any time:
  // under ASan it once committed between the two readings of the index.
  ASSERT_EQ(wait_for_published_attributes().members(0).clienturls_size(), 1);
  pb::PutResponse p;
  ASSERT_TRUE(put("k", "v", &p).ok());
  pb::AlarmRequest arm;
  arm.set_action(pb::AlarmRequest::ACTIVATE);
  arm.set_memberid(id_);
  arm.set_alarm(pb::NOSPACE);
  pb::AlarmResponse alarms;
  ASSERT_TRUE(maint->Alarm(ctx().get(), arm, &alarms).ok());
  const uint64_t index = raft_index();
  grpc::Status s = put("k", "w", &p);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(s.error_message(), "etcdserver: mvcc: database space exceeded");
  pb::TxnRequest writes;
  writes.add_success()->mutable_request_put()->set_key("k");
  pb::TxnResponse tr;
  EXPECT_EQ(kv_->Txn(ctx().get(), writes, &tr).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  auto lease = pb::Lease::NewStub(channel_);
  pb::LeaseGrantRequest grant;
  grant.set_ttl(60);
  pb::LeaseGrantResponse gr;
  EXPECT_EQ(lease->LeaseGrant(ctx().get(), grant, &gr).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(raft_index(), index);  // refused at the gate: no log entry
  // Reads, read-only transactions and deletes go on.
  pb::TxnRequest reads;
  reads.add_success()->mutable_request_range()->set_key("k");
  ASSERT_TRUE(kv_->Txn(ctx().get(), reads, &tr).ok());
  EXPECT_EQ(tr.responses(0).response_range().kvs(0).value(), "v");
  pb::DeleteRangeRequest del;
  del.set_key("k");
  pb::DeleteRangeResponse dr;
  EXPECT_TRUE(kv_->DeleteRange(ctx().get(), del, &dr).ok());
  // CORRUPT stops every KV call, reads too.
  arm.set_alarm(pb::CORRUPT);
  ASSERT_TRUE(maint->Alarm(ctx().get(), arm, &alarms).ok());
  pb::RangeRequest rr;
  rr.set_key("k");
  pb::RangeResponse r;
  s = kv_->Range(ctx().get(), rr, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_EQ(s.error_message(), "etcdserver: corrupt cluster");
  pb::AlarmRequest disarm_all;  // memberid 0 and NONE: every alarm
  disarm_all.set_action(pb::AlarmRequest::DEACTIVATE);
  ASSERT_TRUE(maint->Alarm(ctx().get(), disarm_all, &alarms).ok());
  EXPECT_EQ(alarms.alarms_size(), 2);
  EXPECT_TRUE(put("k", "x", &p).ok());
  EXPECT_TRUE(kv_->Range(ctx().get(), rr, &r).ok());
}

TEST_F(ServerTest, AWatchStreamAnswersCreatedThenEventsInOrder) {
  auto watch = pb::Watch::NewStub(channel_);
  grpc::ClientContext c;
  c.set_deadline(std::chrono::system_clock::now() + milliseconds(10'000));
  auto stream = watch->Watch(&c);
  pb::WatchRequest req;
  req.mutable_create_request()->set_key("w");
  req.mutable_create_request()->set_prev_kv(true);
  ASSERT_TRUE(stream->Write(req));
  pb::WatchResponse created;
  ASSERT_TRUE(stream->Read(&created));
  EXPECT_TRUE(created.created());
  EXPECT_EQ(created.watch_id(), 0);
  expect_header(created.header());
  EXPECT_GT(created.header().revision(), 0);
  pb::PutResponse p;
  ASSERT_TRUE(put("w", "1", &p).ok());
  ASSERT_TRUE(put("w", "2", &p).ok());
  std::vector<mvccpb::Event> events;
  pb::WatchResponse r;
  while (events.size() < 2 && stream->Read(&r)) {
    expect_header(r.header());
    for (const auto& e : r.events()) events.push_back(e);
  }
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kv().value(), "1");
  EXPECT_EQ(events[1].kv().value(), "2");
  EXPECT_EQ(events[1].prev_kv().value(), "1");
  EXPECT_LT(events[0].kv().mod_revision(), events[1].kv().mod_revision());
  c.TryCancel();
}

// The number of threads of this process (the server runs inside it).
int thread_count() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

// On gRPC's callback API a watch stream costs no server thread (the synchronous API
// took two each), and a write reaches every stream watching its key by a push.
TEST_F(ServerTest, WatchStreamsCostNoThreadEachAndAWriteReachesEveryOne) {
  constexpr int kStreams = 200;
  auto watch = pb::Watch::NewStub(channel_);
  const int before = thread_count();
  struct Stream {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReaderWriter<pb::WatchRequest, pb::WatchResponse>> rw;
  };
  std::vector<std::unique_ptr<Stream>> streams;
  for (int i = 0; i < kStreams; ++i) {
    auto st = std::make_unique<Stream>();
    st->ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(60'000));
    st->rw = watch->Watch(&st->ctx);
    pb::WatchRequest req;
    req.mutable_create_request()->set_key("fan");
    ASSERT_TRUE(st->rw->Write(req));
    pb::WatchResponse created;
    ASSERT_TRUE(st->rw->Read(&created));
    ASSERT_TRUE(created.created());
    streams.push_back(std::move(st));
  }
  const int during = thread_count();
  // The client's own completion threads and gRPC's pollers grow a little; two threads a
  // stream would be 400 more.
  EXPECT_LT(during - before, 40) << before << " threads before, " << during << " with " << kStreams
                                 << " streams";
  pb::PutResponse p;
  ASSERT_TRUE(put("fan", "out", &p).ok());
  for (auto& st : streams) {
    pb::WatchResponse r;
    ASSERT_TRUE(st->rw->Read(&r));
    ASSERT_EQ(r.events_size(), 1);
    EXPECT_EQ(r.events(0).kv().value(), "out");
    EXPECT_EQ(r.header().revision(), p.header().revision());
  }
  for (auto& st : streams) st->ctx.TryCancel();
}

// A watch from a past revision gets the history first, then live events; a cancel is
// answered and stops them.
TEST_F(ServerTest, AWatchFromAPastRevisionCatchesUpThenGoesLiveUntilCanceled) {
  pb::PutResponse first, second;
  ASSERT_TRUE(put("h", "1", &first).ok());
  ASSERT_TRUE(put("h", "2", &second).ok());
  auto watch = pb::Watch::NewStub(channel_);
  grpc::ClientContext c;
  c.set_deadline(std::chrono::system_clock::now() + milliseconds(10'000));
  auto stream = watch->Watch(&c);
  pb::WatchRequest req;
  req.mutable_create_request()->set_key("h");
  req.mutable_create_request()->set_start_revision(first.header().revision());
  req.mutable_create_request()->set_watch_id(7);
  ASSERT_TRUE(stream->Write(req));
  std::vector<std::string> values;
  pb::WatchResponse r;
  ASSERT_TRUE(stream->Read(&r));
  EXPECT_TRUE(r.created());
  EXPECT_EQ(r.watch_id(), 7);
  while (values.size() < 2 && stream->Read(&r)) {
    for (const auto& e : r.events()) values.push_back(e.kv().value());
  }
  pb::PutResponse third;
  ASSERT_TRUE(put("h", "3", &third).ok());
  while (values.size() < 3 && stream->Read(&r)) {
    for (const auto& e : r.events()) values.push_back(e.kv().value());
  }
  EXPECT_EQ(values, (std::vector<std::string>{"1", "2", "3"}));
  pb::WatchRequest cancel;
  cancel.mutable_cancel_request()->set_watch_id(7);
  ASSERT_TRUE(stream->Write(cancel));
  ASSERT_TRUE(stream->Read(&r));
  EXPECT_TRUE(r.canceled());
  EXPECT_EQ(r.watch_id(), 7);
  c.TryCancel();
}

// Stopping the server ends the open watch streams itself (gRPC's shutdown would
// otherwise wait for them until its deadline, then cancel them).
TEST_F(ServerTest, StoppingTheServerEndsOpenWatchStreams) {
  auto watch = pb::Watch::NewStub(channel_);
  grpc::ClientContext c;
  c.set_deadline(std::chrono::system_clock::now() + milliseconds(30'000));
  auto stream = watch->Watch(&c);
  pb::WatchRequest req;
  req.mutable_create_request()->set_key("open");
  ASSERT_TRUE(stream->Write(req));
  pb::WatchResponse r;
  ASSERT_TRUE(stream->Read(&r));
  ASSERT_TRUE(r.created());
  server_->stop();
  EXPECT_FALSE(stream->Read(&r));
  const grpc::Status end = stream->Finish();
  EXPECT_TRUE(end.ok()) << end.error_code() << " " << end.error_message();  // not cancelled
}

TEST_F(ServerTest, LeasesExpireThroughTheLeaderAndTakeTheirKeys) {
  auto lease = pb::Lease::NewStub(channel_);
  pb::LeaseGrantRequest g;
  g.set_ttl(1);
  pb::LeaseGrantResponse gr;
  ASSERT_TRUE(lease->LeaseGrant(ctx().get(), g, &gr).ok());
  expect_header(gr.header());
  ASSERT_NE(gr.id(), 0);
  pb::PutResponse p;
  ASSERT_TRUE(put("leased", "v", &p, gr.id()).ok());
  pb::LeaseTimeToLiveRequest t;
  t.set_id(gr.id());
  t.set_keys(true);
  pb::LeaseTimeToLiveResponse tr;
  ASSERT_TRUE(lease->LeaseTimeToLive(ctx().get(), t, &tr).ok());
  EXPECT_EQ(tr.grantedttl(), 1);
  ASSERT_EQ(tr.keys_size(), 1);
  // Expiry is bounded: the lease loop looks every 200 ms; allow 10 s in all.
  pb::RangeRequest rr;
  rr.set_key("leased");
  pb::RangeResponse r;
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    std::this_thread::sleep_for(milliseconds(50));
    ASSERT_TRUE(kv_->Range(ctx().get(), rr, &r).ok());
    gone = r.count() == 0;
  }
  EXPECT_TRUE(gone);
  ASSERT_TRUE(lease->LeaseTimeToLive(ctx().get(), t, &tr).ok());
  EXPECT_EQ(tr.ttl(), -1);  // etcd: an unknown lease is OK with TTL -1
}

TEST_F(ServerTest, StatusAndMemberListDescribeThisMember) {
  auto maint = pb::Maintenance::NewStub(channel_);
  pb::StatusResponse st;
  ASSERT_TRUE(maint->Status(ctx().get(), pb::StatusRequest(), &st).ok());
  expect_header(st.header());
  EXPECT_EQ(st.leader(), id_);
  EXPECT_EQ(st.version().rfind("3.", 0), 0u);
  EXPECT_GE(st.raftappliedindex(), 1u);
  auto cluster = pb::Cluster::NewStub(channel_);
  pb::MemberListResponse ml;
  ASSERT_TRUE(cluster->MemberList(ctx().get(), pb::MemberListRequest(), &ml).ok());
  ASSERT_EQ(ml.members_size(), 1);
  EXPECT_EQ(ml.members(0).id(), id_);
  EXPECT_EQ(ml.members(0).name(), "solo");
  // The member publishes its client URL through the log shortly after it starts.
  ml = wait_for_published_attributes();
  ASSERT_EQ(ml.members(0).clienturls_size(), 1);
  EXPECT_EQ(ml.members(0).clienturls(0), "http://127.0.0.1:2379");
}

TEST_F(ServerTest, AdminTimeoutsChangeThroughConsensusAndBadOnesAreRefused) {
  auto admin = raftkv::admin::Admin::NewStub(channel_);
  raftkv::admin::Timeouts t;
  t.set_heartbeat_ms(30);
  t.set_election_min_ms(150);
  t.set_election_max_ms(300);
  raftkv::admin::Timeouts out;
  ASSERT_TRUE(admin->SetTimeouts(ctx().get(), t, &out).ok());
  ASSERT_TRUE(admin->GetTimeouts(ctx().get(), raftkv::admin::GetTimeoutsRequest(), &out).ok());
  EXPECT_EQ(out.heartbeat_ms(), 30u);
  EXPECT_EQ(out.election_max_ms(), 300u);
  t.set_election_min_ms(20);
  grpc::Status s = admin->SetTimeouts(ctx().get(), t, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(
      s.error_message(),
      "election timeout 20 ms must be at least 5 times the heartbeat interval (30 ms), as etcd "
      "requires");
}

TEST_F(ServerTest, TheMetricsListenerServesHealthAndPrometheusText) {
  ASSERT_GT(server_->metrics_port(), 0);
  httplib::Client http("127.0.0.1", server_->metrics_port());
  auto health = http.Get("/health");
  ASSERT_TRUE(health) << httplib::to_string(health.error());
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, R"({"health":"true","reason":""})");
  pb::PutResponse r;
  ASSERT_TRUE(put("m", "v", &r).ok());
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  const std::string& text = metrics->body;
  EXPECT_NE(text.find("# TYPE etcd_server_has_leader gauge\netcd_server_has_leader 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("etcd_server_is_leader 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("raftkv_mvcc_revision " + std::to_string(r.header().revision()) + "\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(http.Get("/nothing")->status, 404);
}

TEST_F(ServerTest, HealthIsFalseWhileANospaceAlarmIsRaised) {
  // Fill past the quota: the NOSPACE alarm goes up and /health says why.
  const std::string big(16 * 1024, 'x');
  pb::PutResponse r;
  for (int i = 0; i < 64 && put("fill" + std::to_string(i), big, &r).ok(); ++i) {
  }
  httplib::Client http("127.0.0.1", server_->metrics_port());
  auto health = http.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
  EXPECT_EQ(health->body, R"({"health":"false","reason":"ALARM NOSPACE"})");
}

TEST_F(ServerTest, AHealthySingleMemberScores100AndNospaceCostsHalfWithItsReason) {
  auto admin = raftkv::admin::Admin::NewStub(channel_);
  raftkv::admin::HealthResponse h;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(admin->Health(&ctx, raftkv::admin::HealthRequest(), &h).ok());
  }
  EXPECT_EQ(h.score(), 100u);
  EXPECT_EQ(h.reasons_size(), 0);
  EXPECT_EQ(h.name(), "solo");
  const std::string big(16 * 1024, 'x');
  pb::PutResponse r;
  for (int i = 0; i < 64 && put("fill" + std::to_string(i), big, &r).ok(); ++i) {
  }
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(admin->Health(&ctx, raftkv::admin::HealthRequest(), &h).ok());
  }
  EXPECT_LE(h.score(), 50u);
  ASSERT_EQ(h.reasons_size(), 1);
  EXPECT_EQ(h.reasons(0).input(), "alarm");
  EXPECT_NE(h.reasons(0).detail().find("NOSPACE"), std::string::npos);
  httplib::Client http("127.0.0.1", server_->metrics_port());
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("\nraftkv_health_score 50\n"), std::string::npos);
  EXPECT_NE(metrics->body.find("\nraftkv_health_penalty{input=\"alarm\"} 50\n"), std::string::npos);
}

// A server whose clients each get a burst of 5 requests and then one every 10 s (so a
// slow machine cannot refill a token mid-test), keyed by their client-id.
// A member that starts knowing no configuration (as one added to a cluster does, until it
// catches up): it has applied no members and knows no leader.
class UnconfiguredServerTest : public ServerTest {
 protected:
  void configure(ServerConfig& cfg) override { cfg.node.bootstrap.voters.clear(); }
  bool warm_up() override { return false; }
};

TEST_F(UnconfiguredServerTest, MemberListWaitsForTheClustersConfigurationNeverAnswersEmpty) {
  auto cluster = pb::Cluster::NewStub(channel_);
  pb::MemberListResponse ml;
  // Serializable by default: still not the empty list such a member holds, but the
  // leader's answer, and with no leader to ask, etcd's error for that.
  grpc::Status s = cluster->MemberList(ctx().get(), pb::MemberListRequest(), &ml);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_EQ(ml.members_size(), 0);
}

class LimitedServerTest : public ServerTest {
 protected:
  void configure(ServerConfig& cfg) override {
    cfg.limits.defaults.requests_per_second = 0.1;
    cfg.limits.defaults.burst = 5;
    cfg.limits_trust_client_id = true;
  }
  std::unique_ptr<grpc::ClientContext> as(const std::string& client) {
    auto c = ctx();
    c->AddMetadata("client-id", client);
    return c;
  }
  // The store's revision: a put that reaches the log raises it. (The commit index would
  // also count the member's own writes, such as publishing its attributes, which may
  // land at any time in the first rounds.)
  int64_t revision() {
    pb::RangeRequest req;
    req.set_key("k");
    pb::RangeResponse resp;
    EXPECT_TRUE(kv_->Range(as("observer").get(), req, &resp).ok());
    return resp.header().revision();
  }
};

TEST_F(LimitedServerTest, AClientOverItsRateIsRefusedAtOnceNamingTheLimitAndNothingIsLogged) {
  pb::PutRequest req;
  req.set_key("k");
  req.set_value("v");
  pb::PutResponse r;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(kv_->Put(as("greedy").get(), req, &r).ok()) << i;
  const int64_t revision_before = revision();
  auto refused_ctx = as("greedy");
  const grpc::Status s = kv_->Put(refused_ctx.get(), req, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(s.error_message(),
            "etcdserver: too many requests: client id:greedy is over its request rate limit of "
            "0.1/s (burst 5)");
  const auto& trailers = refused_ctx->GetServerTrailingMetadata();
  auto retry = trailers.find("retry-after-ms");
  ASSERT_NE(retry, trailers.end());
  EXPECT_GT(std::stoi(std::string(retry->second.data(), retry->second.size())), 0);
  EXPECT_EQ(revision(), revision_before);  // the refused put never reached the log
  // Other clients keep their own budgets.
  EXPECT_TRUE(kv_->Put(as("light").get(), req, &r).ok());
  httplib::Client http("127.0.0.1", server_->metrics_port());
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("raftkv_limits_refused_total{limit=\"request_rate\"} 1\n"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("\nraftkv_limits_in_flight_requests 0\n"), std::string::npos);
}

TEST_F(LimitedServerTest, AdminAndMaintenanceCallsPassTheSameGate) {
  pb::RangeRequest range;
  range.set_key("k");
  pb::RangeResponse rr;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(kv_->Range(as("admin").get(), range, &rr).ok());
  auto admin = raftkv::admin::Admin::NewStub(channel_);
  raftkv::admin::StatusResponse st;
  EXPECT_EQ(admin->Status(as("admin").get(), raftkv::admin::StatusRequest(), &st).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  raftkv::admin::Timeouts t;
  EXPECT_EQ(
      admin->GetTimeouts(as("admin").get(), raftkv::admin::GetTimeoutsRequest(), &t).error_code(),
      grpc::StatusCode::RESOURCE_EXHAUSTED);
  auto maintenance = pb::Maintenance::NewStub(channel_);
  pb::StatusResponse ms;
  EXPECT_EQ(maintenance->Status(as("admin").get(), pb::StatusRequest(), &ms).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  auto cluster = pb::Cluster::NewStub(channel_);
  pb::MemberListResponse ml;
  EXPECT_EQ(cluster->MemberList(as("admin").get(), pb::MemberListRequest(), &ml).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
}

// The same budget, keyed by the client's address (no client-id trusted).
class AddressLimitedServerTest : public ServerTest {
 protected:
  void configure(ServerConfig& cfg) override {
    cfg.limits.defaults.requests_per_second = 0.1;
    cfg.limits.defaults.burst = 5;
  }
};

TEST_F(AddressLimitedServerTest, ConnectionsFromOneAddressShareOneBudget) {
  // gRPC calls each connection the client port handed it "fd:N"; the limits must still
  // see the address, so two connections from 127.0.0.1 draw on one budget.
  pb::RangeRequest req;
  req.set_key("k");
  pb::RangeResponse r;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(kv_->Range(ctx().get(), req, &r).ok()) << i;
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);  // a connection of its own
  auto other = pb::KV::NewStub(
      grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_->client_port()),
                                grpc::InsecureChannelCredentials(), args));
  grpc::Status s;
  int served = 0;
  for (int i = 0; i < 5 && (s = other->Range(ctx().get(), req, &r)).ok(); ++i) ++served;
  EXPECT_LE(served, 2);  // the warm-up put and three ranges used the rest of the burst
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("127.0.0.1"), std::string::npos) << s.error_message();
}

// Watchers: two per stream, three per client; two leases per client.
class WatcherLimitServerTest : public ServerTest {
 protected:
  void configure(ServerConfig& cfg) override {
    cfg.limits.defaults.max_leases = 2;
    cfg.limits.defaults.max_watchers = 3;
    cfg.limits.defaults.max_watchers_per_stream = 2;
    cfg.limits_trust_client_id = true;
  }
  // Creates a watcher on `stream` and returns the answer.
  pb::WatchResponse create(grpc::ClientReaderWriter<pb::WatchRequest, pb::WatchResponse>* stream,
                           const std::string& key) {
    pb::WatchRequest req;
    req.mutable_create_request()->set_key(key);
    EXPECT_TRUE(stream->Write(req));
    pb::WatchResponse r;
    EXPECT_TRUE(stream->Read(&r));
    return r;
  }
};

TEST_F(WatcherLimitServerTest, WatchersBeyondTheStreamsOrTheClientsLimitAreCanceledAtCreation) {
  auto watch = pb::Watch::NewStub(channel_);
  grpc::ClientContext c1, c2;
  for (grpc::ClientContext* c : {&c1, &c2}) {
    c->set_deadline(std::chrono::system_clock::now() + milliseconds(10'000));
    c->AddMetadata("client-id", "watcher");
  }
  auto s1 = watch->Watch(&c1);
  EXPECT_FALSE(create(s1.get(), "a").canceled());
  EXPECT_FALSE(create(s1.get(), "b").canceled());
  pb::WatchResponse third = create(s1.get(), "c");
  EXPECT_TRUE(third.created());
  EXPECT_TRUE(third.canceled());
  EXPECT_EQ(third.cancel_reason(),
            "etcdserver: too many requests: client id:watcher is over its limit of 2 watchers "
            "on one stream");
  auto s2 = watch->Watch(&c2);
  EXPECT_FALSE(create(s2.get(), "d").canceled());
  pb::WatchResponse fifth = create(s2.get(), "e");
  EXPECT_TRUE(fifth.canceled());
  EXPECT_EQ(fifth.cancel_reason(),
            "etcdserver: too many requests: client id:watcher is over its limit of 3 watchers");
  // Canceling one frees its place.
  pb::WatchRequest cancel;
  cancel.mutable_cancel_request()->set_watch_id(0);
  ASSERT_TRUE(s1->Write(cancel));
  pb::WatchResponse canceled;
  ASSERT_TRUE(s1->Read(&canceled));
  EXPECT_TRUE(canceled.canceled());
  EXPECT_FALSE(create(s2.get(), "f").canceled());
  c1.TryCancel();
  c2.TryCancel();
}

TEST_F(WatcherLimitServerTest, LeasesBeyondTheClientsLimitAreRefusedUntilOneIsRevoked) {
  auto lease = pb::Lease::NewStub(channel_);
  auto grant = [&](const std::string& client, pb::LeaseGrantResponse* r) {
    auto c = ctx();
    c->AddMetadata("client-id", client);
    pb::LeaseGrantRequest req;
    req.set_ttl(60);
    return lease->LeaseGrant(c.get(), req, r);
  };
  pb::LeaseGrantResponse first, second, third;
  ASSERT_TRUE(grant("holder", &first).ok());
  ASSERT_TRUE(grant("holder", &second).ok());
  const grpc::Status refused = grant("holder", &third);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(refused.error_message(),
            "etcdserver: too many requests: client id:holder is over its limit of 2 leases");
  EXPECT_TRUE(grant("other", &third).ok());  // another client's count is its own
  pb::LeaseRevokeRequest revoke;
  revoke.set_id(first.id());
  pb::LeaseRevokeResponse rr;
  ASSERT_TRUE(lease->LeaseRevoke(ctx().get(), revoke, &rr).ok());
  EXPECT_TRUE(grant("holder", &third).ok());
}

// An overloaded member (node::OverloadBounds) answers with etcd's ErrTooManyRequests.
TEST(Errors, AnOverloadedMemberAnswersAsEtcdDoes) {
  const grpc::Status s = to_grpc(node::node_error(node::NodeErrorKind::kOverloaded,
                                                  "applying trails committing by 6000 entries"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(s.error_message(), "etcdserver: too many requests");
}

TEST(Urls, AddressesComeFromTheValidatorsParser) {
  // The rules themselves are tabled in tests/security/url_test.cc; here, the server's use.
  EXPECT_EQ(*url_to_address("http://127.0.0.1:2380"), "127.0.0.1:2380");
  EXPECT_EQ(*url_to_address("https://[::1]:2380", /*allow_https=*/true), "[::1]:2380");
  EXPECT_EQ(url_to_address("https://127.0.0.1:2380").status().message(),
            "URL https://127.0.0.1:2380: TLS is not supported yet on this listener; use http://");
  EXPECT_EQ(url_to_address("127.0.0.1:2380").status().message(),
            "URL \"127.0.0.1:2380\": the scheme must be http:// or https://");
  EXPECT_EQ(url_to_address("http://127.0.0.1:99999").status().message(),
            "URL \"http://127.0.0.1:99999\": port \"99999\" is not a number in [1, 65535]");
  EXPECT_FALSE(url_to_address("http://127.0.0.1:0").ok());
  EXPECT_EQ(*url_to_address("http://127.0.0.1:0", false, security::UrlUse::kListen), "127.0.0.1:0");
}

}  // namespace
}  // namespace server
