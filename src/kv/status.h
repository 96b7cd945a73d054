// Results of state machine calls: ok, or an error carrying a code that mirrors gRPC's
// status codes and, for client-visible errors, etcd's exact message (clients match
// errors by string). Standard library only: src/kv uses nothing else of ours.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

namespace kv {

// A broken invariant of this layer (a bug, not bad input): stops the process with a
// message naming it (CONVENTIONS.md, Errors). Defined in store.cc.
[[noreturn]] void invariant_failed(const std::string& what);

// The numeric values are gRPC's (grpc::StatusCode), so the server maps a code with a cast.
enum class Code {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return {}; }
  bool is_ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  friend bool operator==(const Status&, const Status&) = default;

 private:
  Code code_ = Code::kOk;
  std::string message_;  // empty when ok
};

// A value, or the error that prevented it. value() on an error is a bug (checked).
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status s) : status_(std::move(s)) {}  // NOLINT: implicit, like absl
  StatusOr(T v) : value_(std::move(v)) {}        // NOLINT
  bool is_ok() const { return status_.is_ok(); }
  const Status& status() const { return status_; }
  T& value() & { return checked(); }
  const T& value() const& { return const_cast<StatusOr*>(this)->checked(); }
  T&& value() && { return std::move(checked()); }
  T* operator->() { return &checked(); }
  const T* operator->() const { return &value(); }

 private:
  T& checked() {
    if (!value_) invariant_failed("StatusOr::value() on an error: " + status_.message());
    return *value_;
  }

  Status status_;  // ok exactly when value_ holds a value
  std::optional<T> value_;
};

}  // namespace kv
