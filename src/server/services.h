// The gRPC services of the client listener, one file each: etcd's KV, Watch, Lease,
// Cluster, Maintenance and Auth, and raftkv.Admin. Each takes the shared Context.
#pragma once

#include <memory>

#include "server/context.h"

namespace grpc {
class Service;
}

namespace server {

std::unique_ptr<grpc::Service> make_kv_service(Context c);
std::unique_ptr<grpc::Service> make_watch_service(Context c);
std::unique_ptr<grpc::Service> make_lease_service(Context c);
std::unique_ptr<grpc::Service> make_cluster_service(Context c);
std::unique_ptr<grpc::Service> make_maintenance_service(Context c);
std::unique_ptr<grpc::Service> make_admin_service(Context c);
std::unique_ptr<grpc::Service> make_auth_service(Context c);

}  // namespace server
