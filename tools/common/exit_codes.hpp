// The exit statuses every command-line tool of the project answers with
// (settlectl, reconcile, drill, bench, insurer-sim): one table, documented in
// docs/operations.md ("Exit codes").
#pragma once

namespace settle::exit_code {

inline constexpr int ok = 0;           // done; what was checked is right
inline constexpr int not_right = 1;    // the thing checked is not right: not balanced, the chain broken, the drill
                                       // or a benchmark target failed, uploads left unsent
inline constexpr int usage = 2;        // bad options or bad input (a file that cannot be read or parsed)
inline constexpr int unreachable = 3;  // the daemon (its socket) or the insurer cannot be reached or did not answer
inline constexpr int refused = 4;      // the daemon (or the rules) refused the request: its reason is printed
inline constexpr int local = 5;        // a local file or database cannot be opened, written or is in use (the
                                       // daemon runs), or the tool could not set itself up
inline constexpr int chain_broken = 6;  // reconcile: the ledger's hash chain walk found a problem (whether or not
                                        // the day balanced: a tampered ledger outranks the day's balance)

}  // namespace settle::exit_code
