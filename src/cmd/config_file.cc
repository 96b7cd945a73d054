#include "cmd/config_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "toml++/toml.h"

namespace raftkv::cmd {
namespace {

// What a TOML value is, in words for errors.
std::string toml_kind(const toml::node& v) {
  if (v.is_string()) return "a string";
  if (v.is_integer()) return "an integer";
  if (v.is_floating_point()) return "a number with a fraction";
  if (v.is_boolean()) return "a boolean";
  if (v.is_array()) return "an array";
  if (v.is_table()) return "a table";
  return "a date or time";
}

// The TOML value as the flag's text, or an error saying what the flag takes: a switch
// takes a boolean, a number flag an integer (or a fraction where it takes one), every
// other flag a string; nothing is converted silently (`name = true` is not "true").
absl::StatusOr<std::string> toml_text(const toml::node& v, const CLI::Option& opt) {
  // CLI11's type names, with its validators' after a ':' ("UINT:NONNEGATIVE").
  const std::string type = opt.get_type_name();
  const bool is_switch = opt.get_expected_min() == 0;
  const bool integer = type.starts_with("UINT") || type.starts_with("INT");
  const bool fraction = type.starts_with("FLOAT");
  if (is_switch) {
    if (auto b = v.value<bool>(); b && v.is_boolean()) return std::string(*b ? "true" : "false");
    return absl::InvalidArgumentError("takes a boolean (true or false), not " + toml_kind(v));
  }
  if (integer || fraction) {
    if (v.is_integer()) return std::to_string(*v.value<int64_t>());
    if (fraction && v.is_floating_point()) return std::to_string(*v.value<double>());
    return absl::InvalidArgumentError(
        std::string("takes ") + (integer ? "an integer" : "a number") + ", not " + toml_kind(v));
  }
  if (v.is_string()) return *v.value<std::string>();
  return absl::InvalidArgumentError("takes a string, not " + toml_kind(v));
}

// Options that are not settings a file may hold.
const std::set<std::string> kNotSettings = {"help", "help-all", "version", "config-file"};

}  // namespace

absl::StatusOr<std::string> read_text_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return absl::InvalidArgumentError("is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) return absl::InvalidArgumentError(std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::InvalidArgumentError(std::strerror(errno));
  return text.str();
}

std::string apply_config_file(const std::string& path, CLI::App& app) {
  absl::StatusOr<std::string> text = read_text_file(path);
  if (!text.ok()) return "config file " + path + ": " + std::string(text.status().message());
  return apply_config_text(*text, path, app);
}

std::string apply_config_text(const std::string& text, const std::string& path, CLI::App& app) {
  toml::table t;
  try {
    t = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return "config file " + path + ": " + std::string(e.description()) + " at line " +
           std::to_string(e.source().begin.line);
  }
  for (const auto& [key, value] : t) {
    const std::string k(key.str());
    CLI::Option* opt = nullptr;
    try {
      if (!kNotSettings.contains(k)) opt = app.get_option("--" + k);
    } catch (const CLI::OptionNotFound&) {
    }
    if (opt == nullptr) return "config file " + path + ": unknown key \"" + k + "\"";
    if (opt->count() > 0) continue;  // the command line wins
    // A repeatable flag (--limits-client) takes an array, one element per use.
    std::vector<const toml::node*> items{&value};
    if (const toml::array* a = value.as_array()) {
      if (opt->get_items_expected_max() <= 1) {
        return "config file " + path + ": key \"" + k + "\" takes one value, not an array";
      }
      items.clear();
      for (const toml::node& e : *a) items.push_back(&e);
    }
    std::vector<std::string> texts;
    for (const toml::node* v : items) {
      absl::StatusOr<std::string> item = toml_text(*v, *opt);
      if (!item.ok()) {
        return "config file " + path + ": key \"" + k + "\" " +
               std::string(item.status().message());
      }
      texts.push_back(*std::move(item));
    }
    try {
      for (const std::string& item : texts) opt->add_result(item);
      opt->run_callback();
    } catch (const CLI::Error& e) {
      return "config file " + path + ": key \"" + k + "\": " + e.what();
    }
  }
  return "";
}

std::string config_template(const CLI::App& app, const std::map<std::string, std::string>& set) {
  std::string out =
      "# raftkv's configuration file (raftkv --config-file FILE). Every key is a flag of\n"
      "# `raftkv --help` without its leading \"--\"; a flag on the command line wins over the\n"
      "# file. Each key below is commented out with its default: uncomment it to set it.\n";
  for (const CLI::Option* opt : app.get_options()) {
    const std::string key = opt->get_single_name();
    if (kNotSettings.contains(key) || opt->get_lnames().empty()) continue;
    std::string description = opt->get_description();
    for (size_t at = description.find('\n'); at != std::string::npos;
         at = description.find('\n', at + 3)) {
      description.replace(at, 1, "\n# ");
    }
    out += "\n# " + description + "\n";
    if (auto it = set.find(key); it != set.end()) {
      out += key + " = " + it->second + "\n";
      continue;
    }
    // The default as toml_text above takes it back: a boolean, a number or a string.
    const std::string def = opt->get_default_str();
    const std::string type = opt->get_type_name();
    std::string value;
    if (opt->get_expected_min() == 0) {
      value = def == "true" || def == "1" ? "true" : "false";
    } else if (def.empty() || def == "[]") {  // no default, or a repeatable flag's none
      value = "";
    } else if (type.starts_with("UINT") || type.starts_with("INT") || type.starts_with("FLOAT")) {
      value = def;
    } else {
      std::ostringstream quoted;
      quoted << toml::value<std::string>(def);
      value = quoted.str();
    }
    out += "# " + key + " =" + (value.empty() ? "" : " " + value) + "\n";
  }
  return out;
}

}  // namespace raftkv::cmd
