#include "server/status_page.h"

#include <fstream>
#include <sstream>
#include <string_view>

#include "server/status_page_assets.h"

namespace server {
namespace {

// Where Debian's libjs-chart.js puts the UMD build (the one a plain <script> can load):
// chart.umd.js from Chart.js 4 on, chart.min.js before.
constexpr const char* kChartJsPaths[] = {
    "/usr/share/javascript/chart.js/chart.umd.js",
    "/usr/share/javascript/chart.js/chart.min.js",
};

std::string content_type(std::string_view name) {
  auto ends = [name](std::string_view ext) {
    return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

std::optional<std::string> read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  if (!in.good() && !in.eof()) return std::nullopt;
  return out.str();
}

}  // namespace

std::optional<HttpResponse> status_page_file(const std::string& path) {
  std::string name;
  if (path == "/" || path == "/index.html") {
    name = "status.html";
  } else if (path.rfind("/assets/", 0) == 0) {
    name = path.substr(8);
  } else {
    return std::nullopt;
  }
  if (name == "chart.js") {
    for (const char* p : kChartJsPaths) {
      if (auto body = read_file(p); body.has_value()) {
        return HttpResponse{.status = 200, .content_type = content_type(name), .body = *body};
      }
    }
    return std::nullopt;
  }
  for (const status_page::EmbeddedFile& f : status_page::kEmbeddedFiles) {
    if (name == f.name) {
      return HttpResponse{.status = 200,
                          .content_type = content_type(name),
                          .body = std::string(reinterpret_cast<const char*>(f.data), f.size)};
    }
  }
  return std::nullopt;
}

}  // namespace server
