// Command-line parsing shared by raftkvctl and raftkv-bench, on CLI11: a usage error of
// any kind (an unknown command or flag, a missing or extra argument, a bad value) is
// printed on stderr and exits with kUsageError; --help prints the help and exits 0.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

namespace raftkv::cmd {

// The exit status of every usage error (etcdctl 3.4 uses 1 and 128; raftkv's tools 2,
// as POSIX utilities do), apart from 0 for success and 1 for a failed request.
inline constexpr int kUsageError = 2;

// What --version prints (and `raftkvctl version`): the program's version, the git commit
// it was built from and the etcd API version it speaks, one per line.
std::string version_text(const std::string& program);

// Parses argv into `app`, with --version added. nullopt when the program should go on; otherwise
// the status to exit with, the help or the error already printed. An unknown command is named:
// `raftkvctl: unknown command "bogus"`.
std::optional<int> parse_command_line(CLI::App& app, const std::string& program, int argc,
                                      char** argv);

// A word that stands where a command's name belongs and names none.
struct UnknownCommand {
  std::string command;                  // as typed, with the commands before it: "member bogus"
  std::vector<std::string> candidates;  // the commands that exist there
};
// The first unknown command in `args` (argv without the program) for `app`, if any.
std::optional<UnknownCommand> unknown_command(const CLI::App& app,
                                              const std::vector<std::string>& args);

}  // namespace raftkv::cmd
