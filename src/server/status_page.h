// The status page of the metrics listener: its HTML, script and style, embedded in the
// binary from src/server/assets/ at build time, and the chart library read from Debian's
// libjs-chart.js at run time (the page works without charts when it is missing).
#pragma once

#include <optional>
#include <string>

#include "server/http_endpoint.h"

namespace server {

// The response for `path` ("/", "/assets/status.js", "/assets/chart.js", ...), or nothing
// when no such file exists.
std::optional<HttpResponse> status_page_file(const std::string& path);

}  // namespace server
