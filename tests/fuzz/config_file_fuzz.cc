// Fuzz target: raftkv's TOML config file (cmd/config_file.h) applied to the server's own
// flags (cmd/server_flags.h), as `raftkv --config-file` does. Byte 0 odd: `--name cli` was
// given on the command line too; the rest is the file's text. Properties:
// - no crash, and no exception escapes apply_config_text;
// - a refusal starts "config file fuzz.toml: " and says more;
// - the command line wins: with --name given, an accepted file leaves name "cli";
// - the same text applied to a fresh set of flags gives the same answer and the same values
//   (every option's results).
#include <CLI/CLI.hpp>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "cmd/config_file.h"
#include "cmd/server_flags.h"
#include "fuzz/fuzz_util.h"

namespace {

const std::string kPath = "fuzz.toml";

struct Applied {
  std::string error;
  std::string values;  // every option's results after applying
  std::string name;
};

Applied apply(const std::string& text, bool name_on_command_line) {
  raftkv::cmd::Flags f;
  CLI::App app{"raftkv"};
  raftkv::cmd::add_server_flags(app, f);
  Applied out;
  try {
    app.parse(name_on_command_line ? "--name cli" : "", false);
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, std::string("the command line is refused: ") + e.what());
  }
  try {
    out.error = raftkv::cmd::apply_config_text(text, kPath, app);
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, std::string("an exception escaped: ") + e.what());
  } catch (...) {
    FUZZ_CHECK(false, "an exception escaped");
  }
  for (const CLI::Option* opt : app.get_options()) {
    out.values += opt->get_name() + "=";
    for (const std::string& r : opt->results()) out.values += r + ",";
    out.values += "\n";
  }
  out.name = f.name;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool name_on_command_line = (data[0] & 1) != 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Applied first = apply(text, name_on_command_line);
  if (!first.error.empty()) {
    const std::string prefix = "config file " + kPath + ": ";
    FUZZ_CHECK(first.error.starts_with(prefix) && first.error.size() > prefix.size(), first.error);
  } else if (name_on_command_line) {
    FUZZ_CHECK(first.name == "cli", "the file overrode --name: " + first.name);
  }
  const Applied second = apply(text, name_on_command_line);
  FUZZ_CHECK(second.error == first.error && second.values == first.values,
             first.error + " / " + second.error);
  return 0;
}
