// raftkv's TOML config file (--config-file): keys are the flags' names, values typed as
// the flags take them, applied to the same CLI11 options the command line sets.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
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

// A config file with every setting of `app` commented out: its description, then
// "# key = default" (the flag's default, typed as the file takes it; "# key =" when it has
// none). A key in `set` is written uncommented with that value (a TOML value: "\"text\"",
// 100, true). `app`'s options must capture their defaults (always_capture_default) for
// the defaults to show. The Debian package's /etc/raftkv/raftkv.toml is this text.
std::string config_template(const CLI::App& app, const std::map<std::string, std::string>& set);

}  // namespace raftkv::cmd
