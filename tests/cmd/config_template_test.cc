// The config file template (cmd/config_file.h): every setting of the server is in it, and
// each default, uncommented alone, is a line raftkv takes, giving the flag its default.
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>

#include "cmd/config_file.h"
#include "cmd/server_flags.h"

namespace raftkv::cmd {
namespace {

struct ServerApp {
  Flags flags;
  CLI::App app;
  explicit ServerApp(bool capture_defaults = false) {
    if (capture_defaults) app.option_defaults()->always_capture_default();
    add_server_flags(app, flags);
  }
};

std::string template_text(const std::map<std::string, std::string>& set = {}) {
  ServerApp s(/*capture_defaults=*/true);
  return config_template(s.app, set);
}

TEST(ConfigTemplate, EverySettingIsAKeyWithItsDescription) {
  const std::string text = template_text();
  ServerApp s;
  size_t settings = 0;
  for (const CLI::Option* opt : s.app.get_options()) {
    const std::string key = opt->get_single_name();
    if (key == "help" || key == "config-file" || opt->get_lnames().empty()) continue;
    ++settings;
    EXPECT_NE(text.find("\n# " + key + " ="), std::string::npos) << key;
    EXPECT_NE(text.find(opt->get_description().substr(0, 40)), std::string::npos) << key;
  }
  EXPECT_GT(settings, 40u);
  // All commented out: the file as shipped sets nothing.
  ServerApp fresh;
  EXPECT_EQ(apply_config_text(text, "t", fresh.app), "");
  for (const CLI::Option* opt : fresh.app.get_options()) EXPECT_EQ(opt->count(), 0u);
}

TEST(ConfigTemplate, EachDefaultUncommentedAloneIsTakenAndGivesTheDefault) {
  std::istringstream lines(template_text());
  size_t checked = 0;
  for (std::string line; std::getline(lines, line);) {
    const size_t eq = line.find(" = ");
    if (!line.starts_with("# ") || eq == std::string::npos || line.find(' ', 2) != eq) continue;
    const std::string key = line.substr(2, eq - 2);
    ServerApp s(/*capture_defaults=*/true);
    const std::string def = s.app.get_option("--" + key)->get_default_str();
    ASSERT_EQ(apply_config_text(line.substr(2) + "\n", "t", s.app), "") << line;
    const CLI::Option* opt = s.app.get_option("--" + key);
    ASSERT_EQ(opt->count(), 1u) << line;
    if (opt->get_expected_min() > 0) {
      EXPECT_EQ(opt->as<std::string>(), def) << line;
    }
    ++checked;
  }
  EXPECT_GT(checked, 30u);
}

TEST(ConfigTemplate, AKeyToSetIsWrittenUncommented) {
  const std::string text = template_text({{"data-dir", "\"/var/lib/raftkv\""}});
  EXPECT_NE(text.find("\ndata-dir = \"/var/lib/raftkv\"\n"), std::string::npos);
  ServerApp s;
  ASSERT_EQ(apply_config_text(text, "t", s.app), "");
  EXPECT_EQ(s.app.get_option("--data-dir")->as<std::string>(), "/var/lib/raftkv");
}

}  // namespace
}  // namespace raftkv::cmd
