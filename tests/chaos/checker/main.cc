// chaos-check: checks what a chaos run recorded.
//   chaos-check WORKLOAD|all --run-dir DIR [--max-states N]
// reads DIR/history.jsonl and DIR/nemesis.jsonl, runs the workload's checker (with all:
// the checker of every workload the history holds), prints the verdicts (and, for an
// anomaly, its window with the faults around it) and writes them to DIR/check.txt.
// Exit: 0 no anomaly, 1 anomaly, 2 inconclusive (a search budget ran out), 3 the run's
// files are missing or do not parse.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <fstream>
#include <iostream>
#include <set>

#include "checkers.h"
#include "history.h"

int main(int argc, char** argv) {
  CLI::App app("checks a chaos run's history");
  std::string run_dir;
  uint64_t max_states = 50'000'000;
  std::string workload;
  std::vector<std::string> names{"all"};
  for (const chaos::Checker& c : chaos::kCheckers) names.push_back(c.workload);
  app.add_option("workload", workload, "which checker")->required()->check(CLI::IsMember(names));
  app.add_option("--run-dir", run_dir, "the run's results directory")->required();
  app.add_option("--max-states", max_states, "the search budget of each search");
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
  std::set<std::string> present;
  for (const auto& op : *ops) {
    origin = std::min(origin, op.t0());
    present.insert(op.wl());
  }
  for (const auto& f : *faults) origin = std::min(origin, f.t0());
  if (origin == INT64_MAX) origin = 0;
  for (const std::string& wl : present) {
    const bool known = std::any_of(std::begin(chaos::kCheckers), std::end(chaos::kCheckers),
                                   [&](const chaos::Checker& c) { return wl == c.workload; });
    if (!known) {
      std::cerr << "chaos-check: the history holds operations of workload \"" << wl
                << "\", which no checker reads\n";
      return 3;
    }
  }

  const chaos::CheckInput in{
      .ops = *ops, .faults = *faults, .origin = origin, .max_states = max_states};
  bool anomaly = false, inconclusive = false;
  std::string text;
  for (const chaos::Checker& c : chaos::kCheckers) {
    if (workload != "all" && workload != c.workload) continue;
    if (workload == "all" && !present.contains(c.workload)) continue;
    chaos::CheckResult r = c.check(in);
    text += r.text;
    anomaly |= r.verdict == chaos::Verdict::kAnomaly;
    inconclusive |= r.verdict == chaos::Verdict::kInconclusive;
  }
  std::cout << text;
  std::ofstream(run_dir + "/check.txt") << text;
  return anomaly ? 1 : inconclusive ? 2 : 0;  // an anomaly is reported over a gap
}
