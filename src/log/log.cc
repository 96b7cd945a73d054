#include "log/log.h"

#include <spdlog/logger.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <atomic>
#include <charconv>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>

namespace raftlog {
namespace {

// What every thread logs through. Never destroyed: a line written while statics are
// torn down at exit still finds it.
struct State {
  std::mutex mu;
  std::shared_ptr<spdlog::logger> logger;  // guarded by mu
  std::string name;                        // guarded by mu
  std::atomic<int> level{static_cast<int>(Level::kInfo)};
  std::atomic<bool> to_stderr{true};
};

std::shared_ptr<spdlog::logger> make_logger(std::vector<spdlog::sink_ptr> sinks) {
  auto logger = std::make_shared<spdlog::logger>("raftkv", sinks.begin(), sinks.end());
  logger->set_pattern("%v");                // the line is made whole by format_line
  logger->set_level(spdlog::level::trace);  // filtered before formatting, by State::level
  logger->flush_on(spdlog::level::trace);   // lines are rare: each reaches the file at once
  return logger;
}

std::shared_ptr<spdlog::logger> default_logger() {
  return make_logger({std::make_shared<spdlog::sinks::stderr_sink_mt>()});
}

State& state() {
  static State* s = [] {
    auto* st = new State();
    st->logger = default_logger();
    return st;
  }();
  return *s;
}

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
  }
  return spdlog::level::err;
}

// The length of the well-formed UTF-8 sequence at s[i] (RFC 3629), 0 if there is none.
size_t utf8_length(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // no overlong forms
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return n;
}

// `s` as a JSON string: quotes, backslashes and control characters escaped, bytes that
// are not UTF-8 replaced by U+FFFD (as zap does), so every line parses.
void append_string(std::string& out, std::string_view s) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20 || c == 0x7F) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    const size_t n = utf8_length(s, i);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  out += '"';
}

void append_value(std::string& out, const Field::Value& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return append_string(out, *s);
  if (const auto* i = std::get_if<int64_t>(&v)) {
    out += std::to_string(*i);
  } else if (const auto* u = std::get_if<uint64_t>(&v)) {
    out += std::to_string(*u);
  } else if (const auto* b = std::get_if<bool>(&v)) {
    out += *b ? "true" : "false";
  } else if (const auto* d = std::get_if<double>(&v)) {
    if (std::isnan(*d)) return append_string(out, "NaN");  // JSON has no NaN or Inf
    if (std::isinf(*d)) return append_string(out, *d > 0 ? "+Inf" : "-Inf");
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, *d);
    out.append(buf, ec == std::errc() ? end : buf);
  }
}

bool reserved(std::string_view key) {
  return key == "level" || key == "ts" || key == "caller" || key == "msg" || key == "name";
}

// "12.5" for value 12500 in units of 1000: the integer part and the trimmed fraction.
std::string fraction(uint64_t value, uint64_t unit, int digits) {
  std::string out = std::to_string(value / unit);
  uint64_t rest = value % unit;
  if (rest == 0) return out;
  std::string frac = std::to_string(rest);
  frac.insert(0, static_cast<size_t>(digits) - frac.size(), '0');
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  return out + "." + frac;
}

}  // namespace

std::string_view level_name(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "error";
}

absl::StatusOr<Level> parse_level(std::string_view text) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (text == level_name(l)) return l;
  }
  return absl::InvalidArgumentError("log level \"" + std::string(text) +
                                    "\" is not one of debug, info, warn, error");
}

std::string Field::go_duration(std::chrono::nanoseconds d) {
  const int64_t ns = d.count();
  if (ns == 0) return "0s";
  const std::string sign = ns < 0 ? "-" : "";
  // The magnitude, as unsigned so that the most negative value has one too.
  const uint64_t n = ns < 0 ? 0 - static_cast<uint64_t>(ns) : static_cast<uint64_t>(ns);
  if (n < 1'000) return sign + std::to_string(n) + "ns";
  if (n < 1'000'000) return sign + fraction(n, 1'000, 3) + "\u00b5s";
  if (n < 1'000'000'000) return sign + fraction(n, 1'000'000, 6) + "ms";
  const uint64_t hours = n / 3'600'000'000'000;
  const uint64_t minutes = n / 60'000'000'000 % 60;
  std::string out = sign;
  if (hours > 0) out += std::to_string(hours) + "h";
  if (hours > 0 || minutes > 0) out += std::to_string(minutes) + "m";
  return out + fraction(n % 60'000'000'000, 1'000'000'000, 9) + "s";
}

absl::StatusOr<std::vector<std::string>> parse_outputs(std::string_view comma_separated) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= comma_separated.size()) {
    size_t end = comma_separated.find(',', start);
    if (end == std::string_view::npos) end = comma_separated.size();
    std::string_view part = comma_separated.substr(start, end - start);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (!part.empty()) out.emplace_back(part);
    start = end + 1;
  }
  if (out.empty()) {
    return absl::InvalidArgumentError("log outputs \"" + std::string(comma_separated) +
                                      "\" name no output (stderr, stdout or a file path)");
  }
  return out;
}

absl::Status init(const Options& options) {
  if (options.outputs.empty()) {
    return absl::InvalidArgumentError("no log output given (stderr, stdout or a file path)");
  }
  std::vector<spdlog::sink_ptr> sinks;
  std::set<std::string> seen;  // an output named twice gets each line once
  bool to_stderr = false;
  for (const std::string& output : options.outputs) {
    const std::string what = output == "default" ? "stderr" : output;
    if (!seen.insert(what).second) continue;
    if (what == "stderr") {
      sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
      to_stderr = true;
      continue;
    }
    if (what == "stdout") {
      sinks.push_back(std::make_shared<spdlog::sinks::stdout_sink_mt>());
      continue;
    }
    // spdlog would create missing directories; a mistyped path is an error instead.
    const std::filesystem::path parent = std::filesystem::path(what).parent_path();
    std::error_code ec;
    if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
      return absl::InvalidArgumentError("log output " + what + ": " + parent.string() +
                                        " is not a directory");
    }
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(what, false));
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError("log output " + what + " cannot be opened: " + e.what());
    }
  }
  std::shared_ptr<spdlog::logger> logger = make_logger(std::move(sinks));
  State& st = state();
  std::lock_guard<std::mutex> lock(st.mu);
  st.logger = std::move(logger);
  st.name = options.member_name;
  st.level.store(static_cast<int>(options.level));
  st.to_stderr.store(to_stderr);
  return absl::OkStatus();
}

void reset() {
  std::shared_ptr<spdlog::logger> logger = default_logger();
  State& st = state();
  std::lock_guard<std::mutex> lock(st.mu);
  st.logger = std::move(logger);
  st.name.clear();
  st.level.store(static_cast<int>(Level::kInfo));
  st.to_stderr.store(true);
}

bool enabled(Level level) {
  return static_cast<int>(level) >= state().level.load(std::memory_order_relaxed);
}

bool writes_to_stderr() { return state().to_stderr.load(); }

void write(Level level, std::string_view component, std::string_view msg,
           std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  const auto now = std::chrono::system_clock::now();
  State& st = state();
  std::shared_ptr<spdlog::logger> logger;
  std::string name;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    logger = st.logger;
    name = st.name;
  }
  const std::string line =
      format_line(level, now, component, msg, name, std::span<const Field>(fields));
  logger->log(to_spdlog(level), spdlog::string_view_t(line.data(), line.size()));
}

std::string hex_id(uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
  return buf;
}

std::string format_line(Level level, std::chrono::system_clock::time_point ts,
                        std::string_view component, std::string_view msg,
                        std::string_view member_name, std::span<const Field> fields) {
  const int64_t ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(ts.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char when[96];
  std::snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms - static_cast<int64_t>(secs) * 1000));
  std::string out;
  out.reserve(128 + msg.size());
  out += "{\"level\":";
  append_string(out, level_name(level));
  out += ",\"ts\":";
  append_string(out, when);
  out += ",\"caller\":";
  append_string(out, component);
  out += ",\"msg\":";
  append_string(out, msg);
  out += ",\"name\":";
  append_string(out, member_name);
  for (const Field& f : fields) {
    out += ',';
    append_string(out, reserved(f.key()) ? "field-" + std::string(f.key()) : f.key());
    out += ':';
    append_value(out, f.value());
  }
  out += '}';
  return out;
}

}  // namespace raftlog
