// Limits as the Admin API and the log carry them (raftkv.admin.Limits) and as the
// limiter takes them (limits::LimitsConfig).
#pragma once

#include "limits/limits_config.h"
#include "raftkv/admin.pb.h"

namespace server {

raftkv::admin::Limits to_proto(const limits::LimitsConfig& c);
limits::LimitsConfig from_proto(const raftkv::admin::Limits& p);

}  // namespace server
