#include "metrics/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace metrics {
namespace {

// The fields of /proc/self/stat after the command name (which may hold spaces),
// numbered as proc(5) numbers them from 3 ("state").
struct ProcStat {
  double cpu_seconds = 0;
  double start_seconds_since_boot = 0;
  double virtual_bytes = 0;
  double resident_bytes = 0;
  double threads = 0;
};

ProcStat read_stat() {
  ProcStat s;
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return s;
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return s;
  std::istringstream fields(line.substr(close + 2));
  std::vector<std::string> f;
  for (std::string w; fields >> w;) f.push_back(w);
  auto at = [&f](size_t proc_field) {  // proc(5) field number, 1-based
    const size_t i = proc_field - 3;
    return i < f.size() ? std::stod(f[i]) : 0.0;
  };
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  s.cpu_seconds = (at(14) + at(15)) / ticks;
  s.threads = at(20);
  s.start_seconds_since_boot = at(22) / ticks;
  s.virtual_bytes = at(23);
  s.resident_bytes = at(24) * static_cast<double>(sysconf(_SC_PAGESIZE));
  return s;
}

double boot_time() {
  std::ifstream in("/proc/stat");
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double t = 0;
      in >> t;
      return t;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

double open_fds() {
  std::error_code ec;
  double n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

std::vector<Sample> one(double v) { return {Sample{.labels = {}, .value = v}}; }

}  // namespace

void register_process_metrics(Registry& r) {
  r.callback("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
             Type::kCounter, [] { return one(read_stat().cpu_seconds); });
  r.callback("process_resident_memory_bytes", "Resident memory size in bytes.", Type::kGauge,
             [] { return one(read_stat().resident_bytes); });
  r.callback("process_virtual_memory_bytes", "Virtual memory size in bytes.", Type::kGauge,
             [] { return one(read_stat().virtual_bytes); });
  r.callback("process_open_fds", "Number of open file descriptors.", Type::kGauge,
             [] { return one(open_fds()); });
  r.callback("process_max_fds", "Maximum number of open file descriptors.", Type::kGauge, [] {
    rlimit rl{};
    return one(getrlimit(RLIMIT_NOFILE, &rl) == 0 ? static_cast<double>(rl.rlim_cur) : 0);
  });
  const double start = boot_time() + read_stat().start_seconds_since_boot;
  r.callback("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
             Type::kGauge, [start] { return one(start); });
  r.callback("raftkv_process_threads", "Number of OS threads in the process.", Type::kGauge,
             [] { return one(read_stat().threads); });
}

}  // namespace metrics
