// chaos-check: checks what a chaos run recorded.
//   chaos-check register --run-dir DIR [--max-states N]
// reads DIR/history.jsonl and DIR/nemesis.jsonl, prints the verdict (and, for an anomaly,
// the shortest failing window with the faults around it), writes it to DIR/check.txt.
// Exit: 0 no anomaly, 1 anomaly, 2 inconclusive (the search budget ran out), 3 the run's
// files are missing or do not parse.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <fstream>
#include <iostream>

#include "history.h"
#include "register_check.h"

int main(int argc, char** argv) {
  CLI::App app("checks a chaos run's history");
  std::string run_dir;
  uint64_t max_states = 50'000'000;
  std::string workload;
  app.add_option("workload", workload, "register")->required()->check(CLI::IsMember({"register"}));
  app.add_option("--run-dir", run_dir, "the run's results directory")->required();
  app.add_option("--max-states", max_states, "lincheck's search budget");
  CLI11_PARSE(app, argc, argv);

  auto history = chaos::read_text_file(run_dir + "/history.jsonl");
  auto faults_text = chaos::read_text_file(run_dir + "/nemesis.jsonl");
  if (!history.ok() || !faults_text.ok()) {
    std::cerr << "chaos-check: "
              << (!history.ok() ? history.status() : faults_text.status()).message() << "\n";
    return 3;
  }
  auto ops = chaos::parse_ops(*history);
  if (!ops.ok()) {
    std::cerr << "chaos-check: " << run_dir << "/history.jsonl: " << ops.status().message() << "\n";
    return 3;
  }
  auto faults = chaos::parse_nemesis(*faults_text);
  if (!faults.ok()) {
    std::cerr << "chaos-check: " << run_dir << "/nemesis.jsonl: " << faults.status().message()
              << "\n";
    return 3;
  }
  int64_t origin = INT64_MAX;
  for (const auto& op : *ops) origin = std::min(origin, op.t0());
  for (const auto& f : *faults) origin = std::min(origin, f.t0());
  if (origin == INT64_MAX) origin = 0;

  chaos::RegisterReport report = chaos::check_register(*ops, max_states);
  const std::string text = chaos::describe(report, *faults, origin);
  std::cout << text;
  std::ofstream(run_dir + "/check.txt") << text;
  switch (report.verdict) {
    case lincheck::Verdict::kLinearizable:
      return 0;
    case lincheck::Verdict::kNotLinearizable:
      return 1;
    case lincheck::Verdict::kGaveUp:
      return 2;
  }
  return 3;
}
