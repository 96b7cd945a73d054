#include "history.h"

#include <google/protobuf/util/json_util.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace chaos {
namespace {

template <typename Message>
absl::StatusOr<std::vector<Message>> parse_lines(const std::string& text) {
  std::vector<Message> out;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Message m;
    auto s = google::protobuf::util::JsonStringToMessage(line, &m, options);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", n, " does not parse: ", std::string(s.message())));
    }
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<raftkv::chaos::Op>> parse_ops(const std::string& text) {
  auto ops = parse_lines<raftkv::chaos::Op>(text);
  if (!ops.ok()) return ops.status();
  bool done = false;
  std::vector<raftkv::chaos::Op> out;
  for (raftkv::chaos::Op& op : *ops) {
    if (op.done()) {
      done = true;
      continue;
    }
    if (op.res() != "ok" && op.res() != "fail" && op.res() != "info") {
      return absl::InvalidArgumentError(absl::StrCat("operation ", op.op(), " has outcome \"",
                                                     op.res(), "\"; expected ok, fail or info"));
    }
    if (op.res() == "ok" && op.t1() < op.t0()) {
      return absl::InvalidArgumentError(absl::StrCat("operation ", op.op(), " returned (", op.t1(),
                                                     ") before it was called (", op.t0(), ")"));
    }
    out.push_back(std::move(op));
  }
  // A client that stopped before its final reads leaves a history that proves less than
  // it seems: acknowledged writes nobody read back.
  if (!done)
    return absl::InvalidArgumentError("the client's last line ({\"done\":true}) is missing");
  return out;
}

absl::StatusOr<std::vector<raftkv::chaos::NemesisEvent>> parse_nemesis(const std::string& text) {
  return parse_lines<raftkv::chaos::NemesisEvent>(text);
}

absl::StatusOr<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace chaos
