/// @file
/// Results of storage calls: ok, or an error whose message names what failed and
/// where (file and byte offset). Standard library only, like the core.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace storage {

/// What kind of failure a Status carries.
enum class Code {
  kOk = 0,
  kCorruption,  // a bad checksum, a missing segment, an unknown format version
  kIoError,     // the operating system refused (EIO, ...)
  kNoSpace,     // ENOSPC: the write was refused, nothing acknowledged is lost
  kFailed,      // an earlier fsync failed: the log refuses everything (restart)
  kInvalidArgument,
};

/// Ok, or a failure: its kind and a message naming what failed and where.
class Status {
 public:
  Status() = default;  ///< ok
  /// A failure of kind `code` (not kOk), described by `message`.
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return {}; }                        ///< ok
  bool is_ok() const { return code_ == Code::kOk; }        ///< whether it is ok
  Code code() const { return code_; }                      ///< the kind; kOk when ok
  const std::string& message() const { return message_; }  ///< empty when ok

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

/// A value or the error that prevented it.
template <typename T>
class StatusOr {
 public:
  StatusOr(Status s) : status_(std::move(s)) {}     ///< the error (not ok). NOLINT: implicit
  StatusOr(T v) : value_(std::move(v)) {}           ///< the value. NOLINT: implicit, like absl
  bool is_ok() const { return status_.is_ok(); }    ///< whether it holds a value
  const Status& status() const { return status_; }  ///< ok when it holds a value
  T& value() { return *value_; }                    ///< the value; only when is_ok()
  const T& value() const { return *value_; }        ///< the value; only when is_ok()

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace storage
