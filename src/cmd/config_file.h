// raftkv's TOML config file (--config-file): keys are the flags' names, values typed as
// the flags take them, applied to the same CLI11 options the command line sets.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "absl/status/statusor.h"

namespace raftkv::cmd {

// A file's whole text; the error says why it could not be read.
absl::StatusOr<std::string> read_text_file(const std::string& path);

// Applies the TOML config file at `path` to `app`: keys are the flag names without their
// leading "--" (e.g. name = "n1", heartbeat-interval = 100). Flags given on the command
// line win. A key that is not a setting (help, version, config-file itself), a value of
// the wrong type and a file that is not a readable TOML file are refused, naming the key.
// "" when applied, else the error, which starts "config file <path>: ". Throws nothing.
std::string apply_config_file(const std::string& path, CLI::App& app);

// The same for a file's text already read; `path` names it in errors.
std::string apply_config_text(const std::string& text, const std::string& path, CLI::App& app);

}  // namespace raftkv::cmd
