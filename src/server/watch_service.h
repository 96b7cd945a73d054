// etcd's Watch service on gRPC's completion-queue API (transport/server_stream.h). A
// stream costs no thread: requests arrive in OnReadDone, and a watcher with something to deliver is
// pushed by the state machine's apply (KvStateMachine::watch_create's `ready`), so nothing polls.
// Each stream keeps one response in flight; what a slow client has not taken waits in the store's
// bounded watcher queues, and a watcher that falls behind catches up from the MVCC history, as
// etcd's unsynced watchers do.
#pragma once

#include <functional>
#include <map>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "etcd/rpc.grpc.pb.h"
#include "node/mutex.h"
#include "server/context.h"
#include "server/services.h"

namespace server {

class WatchStream;

// The streams of the client listener's Watch service.
class WatchService {
 public:
  explicit WatchService(Context c) : c_(c) {}

  // The gRPC service, whose streams `methods` serves; it must not outlive this object.
  std::unique_ptr<grpc::Service> make_service(CompletionQueueMethods* methods);

  // Ends every open stream (the server is stopping), so gRPC's shutdown has no stream
  // left to wait for. New streams are refused from then on.
  void close_all();

  // Streams call these when they open (with how to close them; false: refused, the
  // server is stopping) and when they are done.
  bool opened(WatchStream* s, std::function<void()> close);
  void done(WatchStream* s);

 private:
  const Context c_;
  node::Mutex mu_;
  std::map<WatchStream*, std::function<void()>> open_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace server
