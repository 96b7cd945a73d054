// The process_* metrics every Prometheus client exports (CPU seconds, resident and
// virtual memory, open and maximum file descriptors, start time), read from /proc at
// scrape time, as Go's process collector does for etcd.
#pragma once

#include "metrics/registry.h"

namespace metrics {

void register_process_metrics(Registry& registry);

}  // namespace metrics
