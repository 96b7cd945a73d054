#include "server/watch_service.h"

#include <deque>
#include <map>
#include <utility>

#include "node/raft_node.h"
#include "server/errors.h"
#include "server/kv_state_machine.h"

namespace server {

namespace pb = etcdserverpb;

// One Watch stream. Its state is guarded by `shared_->mu`, which the watchers' `ready`
// callbacks (apply thread) take too; `shared_->stream` is cleared when the stream is
// done, so a late callback finds nothing to push. Lock order: stream, then the state
// machine's (a poll under the stream's lock); the state machine runs callbacks outside
// its own.
class WatchStream final : public transport::ServerStream<
                              grpc::ServerAsyncReaderWriter<pb::WatchResponse, pb::WatchRequest>> {
  struct Shared;  // below

 public:
  WatchStream(Context c, WatchService* service)
      : c_(c), service_(service), shared_(std::make_shared<Shared>()) {}

 private:
  // The stream opened (the completion queue's thread, as every On* below).
  void OnStart() override {
    client_ = c_.client_of(context());
    {
      node::MutexLock lock(&shared_->mu);
      shared_->stream = this;
    }
    grpc::Status gate = c_.gate_stream();
    if (gate.ok() && !service_->opened(this, [shared = shared_] { close(shared); })) {
      gate = grpc::Status(grpc::StatusCode::UNAVAILABLE, "etcdserver: server stopped");
    }
    node::MutexLock lock(&shared_->mu);
    if (!gate.ok()) {
      finish_locked(gate);
      return;
    }
    StartRead(&request_);
  }

  // The server is stopping: ends the stream, unless it is done already.
  static void close(const std::shared_ptr<Shared>& shared) {
    node::MutexLock lock(&shared->mu);
    WatchStream* s = shared->stream;
    if (s == nullptr) return;
    s->shared_->mu.assert_held();  // the same mutex, for the analysis
    s->finish_locked(grpc::Status::OK);
  }

  void OnReadDone(bool ok) override {
    node::MutexLock lock(&shared_->mu);
    // The client closed its side, or the stream broke: etcd ends the stream then.
    if (!ok) return finish_locked(grpc::Status::OK);
    Admission admitted = c_.gate(&context(), request_);  // held while the request is handled
    if (!admitted.ok()) return finish_locked(admitted.status);
    handle_locked(request_, admitted.who);
    if (!finishing_) StartRead(&request_);
    send_next_locked();
  }

  void OnWriteDone(bool ok) override {
    node::MutexLock lock(&shared_->mu);
    writing_ = false;
    if (!ok) return finish_locked(grpc::Status::OK);
    send_next_locked();
  }

  void OnCancel() override {
    node::MutexLock lock(&shared_->mu);
    finish_locked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    service_->done(this);
    std::map<int64_t, kv::WatchId> watches;
    std::map<int64_t, limits::Permit> permits;  // released below, outside the lock
    {
      node::MutexLock lock(&shared_->mu);
      shared_->stream = nullptr;
      watches.swap(watches_);
      permits.swap(permits_);
    }
    for (const auto& [id, w] : watches) c_.sm->watch_cancel(w);
    delete this;
  }

  struct Shared {
    node::Mutex mu;
    WatchStream* stream ABSL_GUARDED_BY(mu) = nullptr;  // null once done
  };

  // A watcher of this stream has something to deliver (the apply thread, or a caller
  // below with the lock held).
  static void ready(const std::shared_ptr<Shared>& shared, int64_t id) {
    node::MutexLock lock(&shared->mu);
    WatchStream* s = shared->stream;
    if (s == nullptr) return;
    s->shared_->mu.assert_held();  // the same mutex, for the analysis
    s->mark_pending_locked(id);
    s->send_next_locked();
  }

  void handle_locked(const pb::WatchRequest& req, const Identity& who)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu) {
    if (req.has_create_request()) return create_locked(req.create_request(), who);
    if (req.has_cancel_request()) return cancel_locked(req.cancel_request().watch_id());
    if (req.has_progress_request()) progress_locked();
  }

  void create_locked(const pb::WatchCreateRequest& cr, const Identity& who)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu) {
    pb::WatchResponse r;
    const int64_t id = cr.watch_id() != 0 ? cr.watch_id() : next_id_;
    if (watches_.contains(id)) {
      r.set_watch_id(-1);
      r.set_created(true);
      r.set_canceled(true);
      r.set_cancel_reason("etcdserver: duplicate watch ID");
      return control_.push_back(std::move(r));
    }
    // With auth on, the user must be allowed to read the range (etcd refuses the create,
    // not the stream).
    if (absl::Status s = c_.sm->check_read(who, cr.key(), cr.range_end()); !s.ok()) {
      r.set_watch_id(-1);
      r.set_created(true);
      r.set_canceled(true);
      r.set_cancel_reason(to_grpc(s).error_message());
      return control_.push_back(std::move(r));
    }
    auto place = c_.limiter->admit_watcher(client_, watches_.size(), limits::Clock::now());
    if (auto* no = std::get_if<limits::Refusal>(&place)) {
      r.set_watch_id(-1);
      r.set_created(true);
      r.set_canceled(true);
      r.set_cancel_reason("etcdserver: too many requests: " + no->message);
      return control_.push_back(std::move(r));
    }
    permits_[id] = std::get<limits::Permit>(std::move(place));
    while (watches_.contains(next_id_)) ++next_id_;
    if (cr.watch_id() == 0) ++next_id_;
    kv::WatchCreateRequest k;
    k.key = cr.key();
    k.range_end = cr.range_end();
    k.start_revision = cr.start_revision();
    k.prev_kv = cr.prev_kv();
    for (int f : cr.filters()) {
      if (f == pb::WatchCreateRequest::NOPUT) k.no_put = true;
      if (f == pb::WatchCreateRequest::NODELETE) k.no_delete = true;
    }
    kv::WatchCreateResponse created = c_.sm->watch_create(
        k, [shared = shared_, id] { ready(shared, id); }, who);
    watches_[id] = created.watch_id;
    r.set_watch_id(id);
    r.set_created(true);
    r.mutable_header()->set_revision(created.revision);
    control_.push_back(std::move(r));
    // A start revision in the past has history to deliver before any new write.
    mark_pending_locked(id);
  }

  void cancel_locked(int64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu) {
    auto it = watches_.find(id);
    if (it == watches_.end()) return;
    c_.sm->watch_cancel(it->second);
    watches_.erase(it);
    permits_.erase(id);
    pb::WatchResponse r;
    r.set_watch_id(id);
    r.set_canceled(true);
    control_.push_back(std::move(r));
  }

  // etcd answers a progress request only when every watcher of the stream is synced.
  void progress_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu) {
    int64_t rev = 0;
    for (const auto& [id, w] : watches_) {
      std::optional<int64_t> p = c_.sm->watch_progress(w);
      if (!p.has_value()) return;
      rev = *p;
    }
    pb::WatchResponse r;
    r.set_watch_id(-1);
    r.mutable_header()->set_revision(rev);
    control_.push_back(std::move(r));
  }

  // The next response: answers to requests first, then events of a pending watcher.
  bool next_locked(pb::WatchResponse* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu) {
    if (!control_.empty()) {
      *out = std::move(control_.front());
      control_.pop_front();
      return true;
    }
    // Round robin over the watchers with something to deliver, so one catching up from
    // a long history does not starve the others.
    while (!pending_.empty()) {
      const int64_t id = pending_.front();
      pending_.pop_front();
      auto it = watches_.find(id);
      if (it == watches_.end()) {
        is_pending_.erase(id);
        continue;
      }
      kv::WatchResponse w = c_.sm->watch_poll(it->second);
      if (w.events.empty() && !w.canceled) {
        is_pending_.erase(id);  // delivered everything; its next event marks it again
        continue;
      }
      to_pb(id, w, out);
      if (w.canceled) {
        watches_.erase(it);
        is_pending_.erase(id);
      } else {
        pending_.push_back(id);  // more may follow (catching up from history)
      }
      return true;
    }
    return false;
  }

  void mark_pending_locked(int64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu) {
    if (is_pending_.insert(id).second) pending_.push_back(id);
  }

  static void to_pb(int64_t id, const kv::WatchResponse& w, pb::WatchResponse* r) {
    r->set_watch_id(id);
    r->mutable_header()->set_revision(w.revision);
    for (const kv::Event& e : w.events) {
      mvccpb::Event* pe = r->add_events();
      pe->set_type(e.type == kv::Event::Type::kPut ? mvccpb::Event::PUT : mvccpb::Event::DELETE);
      put_kv(e.kv, pe->mutable_kv());
      if (e.prev_kv) put_kv(*e.prev_kv, pe->mutable_prev_kv());
    }
    if (w.canceled) {
      r->set_canceled(true);
      r->set_compact_revision(w.compact_revision);
      r->set_cancel_reason(w.cancel_reason);
    }
  }

  static void put_kv(const kv::KeyValue& k, mvccpb::KeyValue* o) {
    o->set_key(k.key);
    o->set_create_revision(k.create_revision);
    o->set_mod_revision(k.mod_revision);
    o->set_version(k.version);
    o->set_value(k.value);
    o->set_lease(k.lease);
  }

  // Starts the next write unless one is in flight: one response at a time.
  void send_next_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu) {
    if (writing_ || finishing_) return;
    out_.Clear();
    if (!next_locked(&out_)) return;
    c_.header(out_.mutable_header());
    if (out_.header().revision() == 0) out_.mutable_header()->set_revision(c_.sm->revision());
    writing_ = true;
    StartWrite(&out_);
  }

  void finish_locked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu) {
    if (finishing_) return;
    finishing_ = true;
    Finish(status);
  }

  const Context c_;
  WatchService* const service_;
  std::string client_;  // who opened it, for the watcher limits (set when it opens)
  const std::shared_ptr<Shared> shared_;
  pb::WatchRequest request_;                            // the read in flight
  pb::WatchResponse out_ ABSL_GUARDED_BY(shared_->mu);  // the write in flight
  bool writing_ ABSL_GUARDED_BY(shared_->mu) = false;
  bool finishing_ ABSL_GUARDED_BY(shared_->mu) = false;
  std::map<int64_t, kv::WatchId> watches_ ABSL_GUARDED_BY(shared_->mu);     // stream id -> store's
  std::map<int64_t, limits::Permit> permits_ ABSL_GUARDED_BY(shared_->mu);  // their places
  int64_t next_id_ ABSL_GUARDED_BY(shared_->mu) = 0;
  // Watchers to poll, in turn; is_pending_ holds the same ids, for lookup.
  std::deque<int64_t> pending_ ABSL_GUARDED_BY(shared_->mu);
  std::set<int64_t> is_pending_ ABSL_GUARDED_BY(shared_->mu);
  std::deque<pb::WatchResponse> control_ ABSL_GUARDED_BY(shared_->mu);  // answers to requests
};

std::unique_ptr<grpc::Service> WatchService::make_service(CompletionQueueMethods* methods) {
  using Service = pb::Watch::AsyncService;
  auto service = std::make_unique<Service>();
  methods->stream(service.get(), &Service::RequestWatch,
                  [this]() { return new WatchStream(c_, this); });
  return service;
}

bool WatchService::opened(WatchStream* s, std::function<void()> close) {
  node::MutexLock lock(&mu_);
  if (closed_) return false;
  open_.emplace(s, std::move(close));
  return true;
}

void WatchService::done(WatchStream* s) {
  node::MutexLock lock(&mu_);
  open_.erase(s);
}

void WatchService::close_all() {
  std::vector<std::function<void()>> closers;
  {
    node::MutexLock lock(&mu_);
    closed_ = true;
    for (const auto& [stream, close] : open_) closers.push_back(close);
  }
  // Outside the service's lock: a stream that ends takes it (done()).
  for (const auto& close : closers) close();
}

}  // namespace server
