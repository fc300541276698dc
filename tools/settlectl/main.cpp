// settlectl: the command-line tool of the insurance office, the cashier and
// the operator. Subcommands are thin: parse options, call the library, print.
#include "tools/settlectl/trial.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"settlectl — trial calculations and the settlement daemon's command-line client"};
  app.require_subcommand(1);

  settle::tools::TrialOptions trial;
  auto* split = app.add_subcommand("split", "trial calculation of a settlement: {person, lines, options} JSON on stdin");
  split->add_option("--policy", trial.policy_path, "policy file (TOML)")->required();
  split->add_flag("--json", trial.json, "print JSON for programs");
  auto* refund = app.add_subcommand("refund",
                                    "trial calculation of a refund: {original, refunds, request} JSON on stdin");
  refund->add_option("--policy", trial.policy_path, "policy file (TOML)")->required();
  refund->add_flag("--json", trial.json, "print JSON for programs");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (split->parsed()) return settle::tools::run_split(trial, std::cin, std::cout, std::cerr);
  if (refund->parsed()) return settle::tools::run_refund(trial, std::cin, std::cout, std::cerr);
  return 2;
}
