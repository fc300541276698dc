// The large-data fixtures of the start-up, growth and soak sections: a red
// list of N entries and a ledger of M settlements over five years, made once
// by `bench fixtures` (bulk SQL, not through the daemon) and read by the rest.
#pragma once

#include <cstdint>
#include <string>

namespace settle::bench::fixtures {

// A full red list of `n` entries at `path` through redlist::Store's own sync,
// as the redlist section loads it; the seconds it took. Throws on error.
double make_redlist(const std::string& path, std::int64_t n);

// What `bench fixtures` wrote into its directory (fixtures.json beside the files).
struct Info {
  std::string dir;            // the fixture directory
  std::string ledger;         // dir/data/ledger.db
  std::string redlist;        // dir/data/redlist.db
  std::int64_t settlements = 0, entries = 0;
  std::string first_day, last_day;
};
// Reads dir/fixtures.json; throws naming what is missing.
Info load(const std::string& dir);

}  // namespace settle::bench::fixtures
