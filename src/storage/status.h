// Results of storage calls: ok, or an error whose message names what failed and
// where (file and byte offset). Standard library only, like the core.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace storage {

enum class Code {
  kOk = 0,
  kCorruption,  // a bad checksum, a missing segment, an unknown format version
  kIoError,     // the operating system refused (EIO, ...)
  kNoSpace,     // ENOSPC: the write was refused, nothing acknowledged is lost
  kFailed,      // an earlier fsync failed: the log refuses everything (restart)
  kInvalidArgument,
};

class Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return {}; }
  bool is_ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the error that prevented it.
template <typename T>
class StatusOr {
 public:
  StatusOr(Status s) : status_(std::move(s)) {}  // NOLINT: implicit, like absl
  StatusOr(T v) : value_(std::move(v)) {}        // NOLINT
  bool is_ok() const { return status_.is_ok(); }
  const Status& status() const { return status_; }
  T& value() { return *value_; }
  const T& value() const { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace storage
