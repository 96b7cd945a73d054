// raftlog: the server's structured logs. One JSON object per line, as etcd's zap logger
// writes them: {"level","ts","caller" (the component),"msg","name" (the member), fields}.
// Levels and outputs follow etcd's --log-level and --log-outputs. Before init() (and in
// tests that never call it) lines go to stderr at level info; logging never throws.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace raftlog {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// "debug", "info", "warn", "error": the names --log-level takes and "level" carries.
std::string_view level_name(Level level);
// The level a name denotes; an error naming the text and the accepted names otherwise.
absl::StatusOr<Level> parse_level(std::string_view text);

// One key and its value on a line. The key must outlive the call it is passed to (a
// literal, in practice). Durations are written as Go writes them ("1.5s", "120ms"), as
// etcd's "took" fields are.
class Field {
 public:
  using Value = std::variant<std::string, int64_t, uint64_t, double, bool>;

  Field(std::string_view key, std::string_view value) : key_(key), value_(std::string(value)) {}
  Field(std::string_view key, const char* value) : key_(key), value_(std::string(value)) {}
  Field(std::string_view key, const std::string& value) : key_(key), value_(value) {}
  Field(std::string_view key, double value) : key_(key), value_(value) {}
  template <std::integral T>
  Field(std::string_view key, T value) : key_(key), value_(integral(value)) {}
  template <typename Rep, typename Period>
  Field(std::string_view key, std::chrono::duration<Rep, Period> d)
      : key_(key), value_(go_duration(std::chrono::duration_cast<std::chrono::nanoseconds>(d))) {}

  std::string_view key() const { return key_; }
  const Value& value() const { return value_; }

 private:
  template <std::integral T>
  static Value integral(T v) {
    if constexpr (std::is_same_v<T, bool>) {
      return v;
    } else if constexpr (std::is_signed_v<T>) {
      return static_cast<int64_t>(v);
    } else {
      return static_cast<uint64_t>(v);
    }
  }
  static std::string go_duration(std::chrono::nanoseconds d);

  std::string_view key_;
  Value value_;
};

// Where lines go and which. `outputs` holds "stderr", "stdout" or file paths (opened
// for appending); "default" means stderr, as in etcd.
struct Options {
  Level level = Level::kInfo;
  std::vector<std::string> outputs = {"stderr"};
  std::string member_name;  // the "name" of every line
};

// Splits etcd's comma-separated --log-outputs value; an error when it names none.
absl::StatusOr<std::vector<std::string>> parse_outputs(std::string_view comma_separated);

// Replaces the logging configuration, for every thread. On error (an output that cannot
// be opened, named in the message) the previous configuration stays.
absl::Status init(const Options& options);
// Back to the state before init(): stderr, level info, no member name. For tests.
void reset();
// Whether the current configuration writes lines of `level`.
bool enabled(Level level);
// Whether one of the current outputs is the process's stderr.
bool writes_to_stderr();

// Writes one line if `level` is enabled. Any thread.
void write(Level level, std::string_view component, std::string_view msg,
           std::initializer_list<Field> fields = {});
inline void debug(std::string_view component, std::string_view msg,
                  std::initializer_list<Field> fields = {}) {
  write(Level::kDebug, component, msg, fields);
}
inline void info(std::string_view component, std::string_view msg,
                 std::initializer_list<Field> fields = {}) {
  write(Level::kInfo, component, msg, fields);
}
inline void warn(std::string_view component, std::string_view msg,
                 std::initializer_list<Field> fields = {}) {
  write(Level::kWarn, component, msg, fields);
}
inline void error(std::string_view component, std::string_view msg,
                  std::initializer_list<Field> fields = {}) {
  write(Level::kError, component, msg, fields);
}

// A member id as raftkv prints it everywhere: 16 hex digits.
std::string hex_id(uint64_t id);

// The JSON line (without its newline) for these values: what write() emits. Keys that
// would repeat the fixed ones ("level", "ts", "caller", "msg", "name") get a "field-"
// prefix, so every line stays one unambiguous object.
std::string format_line(Level level, std::chrono::system_clock::time_point ts,
                        std::string_view component, std::string_view msg,
                        std::string_view member_name, std::span<const Field> fields);

}  // namespace raftlog
