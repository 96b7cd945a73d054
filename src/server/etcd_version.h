// The etcd version raftkv answers as, wherever a client asks: Maintenance.Status and the
// client port's /version. Clients compare it (Go clientv3 refuses clusters older than 3.2),
// so one place says it.
#pragma once

#include <string_view>

namespace server {

inline constexpr std::string_view kEtcdServerVersion = "3.5.0";
// etcd's cluster version: the lowest server version in the cluster, major.minor.0.
inline constexpr std::string_view kEtcdClusterVersion = "3.5.0";

}  // namespace server
