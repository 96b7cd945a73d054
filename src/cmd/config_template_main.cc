// raftkv-config-template: prints raftkv's config file with every setting commented out
// with its default (cmd/config_file.h), so the file shipped with the Debian package names
// every flag the server has. Each KEY=VALUE argument (a TOML value) is written set.
//   raftkv-config-template 'data-dir="/var/lib/raftkv"' > raftkv.toml
#include <cstdio>
#include <iostream>
#include <map>
#include <string>

#include "cmd/config_file.h"
#include "cmd/server_flags.h"

int main(int argc, char** argv) {
  raftkv::cmd::Flags flags;
  CLI::App app;
  app.option_defaults()->always_capture_default();
  raftkv::cmd::add_server_flags(app, flags);
  std::map<std::string, std::string> set;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "raftkv-config-template: expected KEY=VALUE, not \"%s\"\n", argv[i]);
      return 2;
    }
    const std::string key = arg.substr(0, eq);
    if (app.get_option_no_throw("--" + key) == nullptr) {
      std::fprintf(stderr, "raftkv-config-template: \"%s\" is not a raftkv setting\n", key.c_str());
      return 2;
    }
    set[key] = arg.substr(eq + 1);
  }
  const std::string text = raftkv::cmd::config_template(app, set);
  // What it writes must be a file raftkv takes.
  CLI::App check;
  raftkv::cmd::Flags check_flags;
  raftkv::cmd::add_server_flags(check, check_flags);
  if (std::string err = raftkv::cmd::apply_config_text(text, "template", check); !err.empty()) {
    std::fprintf(stderr, "raftkv-config-template: %s\n", err.c_str());
    return 1;
  }
  std::cout << text;
  return 0;
}
