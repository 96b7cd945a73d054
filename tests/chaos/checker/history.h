// Reading what a chaos run recorded: the client's operations and the harness's faults,
// one JSON object per line (proto/raftkv/chaos_history.proto).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "raftkv/chaos_history.pb.h"

namespace chaos {

// Parses JSON lines; blank lines are skipped. A line that does not parse is an error that
// names its number: a history the harness cannot read is never checked as a pass. The
// operations must end with the client's {"done":true} line (not returned).
absl::StatusOr<std::vector<raftkv::chaos::Op>> parse_ops(const std::string& text);
absl::StatusOr<std::vector<raftkv::chaos::NemesisEvent>> parse_nemesis(const std::string& text);

absl::StatusOr<std::string> read_text_file(const std::string& path);

}  // namespace chaos
