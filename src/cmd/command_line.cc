#include "cmd/command_line.h"

#include <algorithm>
#include <iostream>

#include "raftkv_version.h"
#include "server/etcd_version.h"

namespace raftkv::cmd {
namespace {

// The option `word` ("--name", "--name=value", "-o", "-ojson") names in `app` or, when
// options fall through, in one of its parents; nullptr when it names none.
const CLI::Option* find_option(const CLI::App& app, const std::string& word) {
  const bool is_long = word.rfind("--", 0) == 0;
  const std::string name = is_long ? word.substr(0, word.find('=')) : word.substr(0, 2);
  for (const CLI::App* a = &app; a != nullptr;
       a = a->get_fallthrough() ? a->get_parent() : nullptr) {
    if (const CLI::Option* opt = a->get_option_no_throw(name)) return opt;
  }
  return nullptr;
}

// Whether the word after `word` is the value of the option it names.
bool value_follows(const CLI::App& app, const std::string& word) {
  const CLI::Option* opt = find_option(app, word);
  if (opt == nullptr || opt->get_type_size_max() == 0) return false;  // unknown, or a flag
  const bool attached =
      word.rfind("--", 0) == 0 ? word.find('=') != std::string::npos : word.size() > 2;
  return !attached;
}

// The named subcommands of `app` (not its nameless option groups).
std::vector<const CLI::App*> commands_of(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App* sub) { return !sub->get_name().empty(); });
}

}  // namespace

std::optional<UnknownCommand> unknown_command(const CLI::App& app,
                                              const std::vector<std::string>& args) {
  const CLI::App* at = &app;
  std::string typed;  // the commands named so far
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& word = args[i];
    if (word == "--") return std::nullopt;  // positionals only from here
    if (word.size() > 1 && word[0] == '-') {
      if (value_follows(*at, word)) ++i;
      continue;
    }
    const std::vector<const CLI::App*> commands = commands_of(*at);
    if (commands.empty()) return std::nullopt;  // a command's own arguments
    typed += (typed.empty() ? "" : " ") + word;
    const auto sub = std::find_if(commands.begin(), commands.end(),
                                  [&](const CLI::App* c) { return c->check_name(word); });
    if (sub == commands.end()) {
      UnknownCommand unknown{.command = typed, .candidates = {}};
      for (const CLI::App* c : commands) unknown.candidates.push_back(c->get_name());
      return unknown;
    }
    at = *sub;
  }
  return std::nullopt;
}

std::string version_text(const std::string& program) {
  return program + " version: " + std::string(raftkv::kVersion) +
         "\nGit SHA: " + std::string(raftkv::git_commit()) +
         "\netcd API version: " + std::string(server::kEtcdServerVersion.substr(0, 3)) + "\n";
}

std::optional<int> parse_command_line(CLI::App& app, const std::string& program, int argc,
                                      char** argv) {
  // CLI11 prints the text and a newline: the text's own last one is left out.
  std::string version = version_text(program);
  version.pop_back();
  app.set_version_flag("--version", version, "Print the version and the git commit, and exit");
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11 does not say that a word was meant as a command ("A subcommand is required",
    // or a later command parsed as if the word were not there): name it.
    if (std::optional<UnknownCommand> unknown =
            unknown_command(app, std::vector<std::string>(argv + 1, argv + argc))) {
      std::cerr << program << ": unknown command \"" << unknown->command
                << "\"\nCommands: " << CLI::detail::join(unknown->candidates, ", ")
                << "\nRun with --help for more information." << std::endl;
      return kUsageError;
    }
    app.exit(e);  // prints the error on stderr
    return kUsageError;
  }
}

}  // namespace raftkv::cmd
