// The daemon's config file: the documented example loads, and each kind of
// mistake is refused with the key and the line.
#include "tools/settled/config.hpp"
#include "tools/settled/reload.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace settle;
using namespace settle::daemon;

namespace {

std::string example() {
  std::ifstream f(SETTLE_SOURCE_DIR "/docs/examples/settled.toml");
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// The example with its secret file pointing at a file that exists.
std::string base_dir() {
  const std::string dir = SETTLE_BINARY_DIR "/tests/daemon/cfg";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/secret") << "s3cret\n";
  return dir;
}

std::string with(std::string text, const std::string& from, const std::string& to) {
  const auto p = text.find(from);
  REQUIRE(p != std::string::npos);
  return text.replace(p, from.size(), to);
}

std::string usable_example() { return with(example(), "\"/etc/settled/pki/secret\"", "\"secret\""); }

}  // namespace

TEST_CASE("the documented example loads") {
  auto c = parse_config(usable_example(), "settled.toml", base_dir());
  REQUIRE_MESSAGE(c.ok(), c.error().message);
  CHECK(c->institution.code == "H11010500001");
  CHECK(c->insurer.secret == "s3cret");
  CHECK(c->ledger_path == "/var/lib/settled/ledger.db");
  CHECK(c->windows.at("W02") == "Virtual PCD 00 01");
  CHECK(c->metrics_port == 9464);
  CHECK_FALSE(c->cashier.tcp_address.has_value());
  CHECK(format_amount(c->offline_limits.per_settlement_fund_max) == "2000.00");
  CHECK(c->offline_limits.max_age_s == 86400);
  // The inpatient limits apart from the outpatient ones.
  CHECK(format_amount(c->inpatient_offline_limits.per_settlement_fund_max) == "10000.00");
  CHECK(c->inpatient_offline_limits.outstanding_count_max == 100);
  CHECK(c->inpatient_offline_limits.max_age_s == 259200);
  CHECK(c->redlist.path == "/var/lib/settled/redlist.db");
  CHECK(c->redlist.sync_interval_s == 3600);
  CHECK(c->redlist.page_size == 1000);
  CHECK(c->storage.key_file.empty());  // no key: plain files

  // [storage] key_file, resolved against the config's folder.
  auto k = parse_config(with(usable_example(), "# key_file = ", "key_file = \"ledger.key\" # "), "settled.toml",
                        base_dir());
  REQUIRE_MESSAGE(k.ok(), k.error().message);
  CHECK(k->storage.key_file == base_dir() + "/ledger.key");
}

TEST_CASE("mistakes name the key and the line") {
  struct Row { std::string from, to, expect; };
  const Row rows[] = {
      {"pool_size = 4", "pool_size = 0", "insurer.pool_size: 0 is out of range"},
      {"pool_size = 4", "pool_sise = 4", "insurer.pool_sise: unknown key"},
      {"max_age_s = 259200", "max_age = 259200", "offline.inpatient.max_age: unknown key"},
      {"code = \"H11010500001\"", "code = \"H110\"", "institution.code: the institution code"},
      {"# tcp = \"127.0.0.1:7700\"", "tcp = \"0.0.0.0:7700\"", "cashier.tcp: \"0.0.0.0\" is not a loopback address"},
      {"listen = \"127.0.0.1:9464\"", "listen = \"127.0.0.1\"", "metrics.listen: write address:port"},
      {"per_settlement_fund_max = \"2000.00\"", "per_settlement_fund_max = 2000.5", "offline.per_settlement_fund_max: write amounts as a quoted decimal"},
      {"retry_max_ms = 60000", "retry_max_ms = 100", "reversal.retry_max_ms: must not be below retry_initial_ms"},
      {"log_level = \"info\"", "log_level = \"loud\"", "daemon.log_level"},
      {"port = 443", "port = \"443\"", "insurer.port: expected a whole number"},
      {"[network]", "[netwrok]", "netwrok: unknown key"},
      {"\"W01\" = \"Virtual PCD 00 00\"", "\"W01\" = 5", "readers.windows.W01: expected the PC/SC reader name"},
      {"page_size = 1000", "page_size = 1001", "redlist.page_size: 1001 is out of range"},
      {"sync_interval_s = 3600", "sync_interval_s = -1", "redlist.sync_interval_s"},
      {"sync_interval_s = 3600", "sync_every = 3600", "redlist.sync_every: unknown key"},
      {"path = \"/var/lib/settled/redlist.db\"", "path = \"/var/lib/settled/ledger.db\"", "redlist.path: must not be the ledger's file"},
      {"path = \"/var/lib/settled/redlist.db\"", "path = \"\"", "redlist.path: must not be empty"},
      {"# key_file = ", "key_file = \"\" # ", "storage.key_file: must not be empty"},
      {"# key_file = ", "keyfile = \"k\" # ", "storage.keyfile: unknown key"},
      {"redlist_stale_after_s = 86400", "redlist_stale_after_s = -5", "notify.redlist_stale_after_s"},
      {"redlist_stale_after_s = 86400", "redlist_stale_after_s = 86400\n[[notify.hook]]\nname = \"pager\"\nevents = [\"line_offline\"]\ncommand = [\"page-it\"]", "notify.hook[0].command: the first word is the program, by its absolute path"},
      {"redlist_stale_after_s = 86400", "redlist_stale_after_s = 86400\n[[notify.hook]]\nname = \"pager\"\nevents = [\"line_offline\"]\nurl = \"ftp://x/y\"", "notify.hook[0].url: \"ftp://x/y\" is not an http:// or https://"},
      {"redlist_stale_after_s = 86400", "redlist_stale_after_s = 86400\n[[notify.hook]]\nname = \"pager\"\nevents = [\"line_offline\"]\nurl = \"http://x/y\"\ncommand = [\"/bin/true\"]", "notify.hook[0]: give a hook either a command or a url"},
      {"redlist_stale_after_s = 86400", "redlist_stale_after_s = 86400\n[[notify.hook]]\nname = \"pager\"\nevents = [\"line_offline\"]\n", "notify.hook[0]: give a hook either a command or a url"},
      {"redlist_stale_after_s = 86400", "redlist_stale_after_s = 86400\n[[notify.hook]]\nname = \"pager\"\nevents = [\"line_offline\"]\nurl = \"http://x/y\"\nca_file = \"ca.pem\"", "notify.hook[0].ca_file: only for an https:// url"},
      {"redlist_stale_after_s = 86400", "redlist_stale_after_s = 86400\n[[notify.hook]]\nname = \"p\"\nevents = [\"line_down\"]\nurl = \"http://x/\"", "notify.hook[0].events: \"line_down\" is not an event"},
      {"redlist_stale_after_s = 86400", "redlist_stale_after_s = 86400\n[[notify.hook]]\nname = \"p\"\nurl = \"http://x/\"", "notify.hook[0].events: required"},
      {"redlist_stale_after_s = 86400", "redlist_stale_after_s = 86400\n[[notify.hook]]\nname = \"pager\"\nevents = [\"line_offline\"]\nurl = \"http://x/\"\n[[notify.hook]]\nname = \"pager\"\nevents = [\"parked\"]\nurl = \"http://y/\"", "notify.hook[1].name: \"pager\" names an earlier hook too"},
      {"redlist_stale_after_s = 86400", "redlist_stale_after_s = 86400\n[[notify.hook]]\nname = \"pager\"\nevents = [\"line_offline\"]\nurl = \"http://x/\"\ntimeout_ms = 10", "notify.hook[0].timeout_ms: 10 is out of range"},
      {"redlist_stale_after_s = 86400", "redlist_stale_after_s = 86400\n[[notify.hook]]\nname = \"pager\"\nevents = [\"line_offline\"]\nurl = \"http://x/\"\nretries = 3", "notify.hook[0].retries: unknown key"},
      {"redlist_stale_after_s = 86400", "redlist_stale_after_s = 86400\nhook = \"x\"", "notify.hook: write each hook as its own [[notify.hook]] table"},
      {"profile = \"regional\"", "profile = \"nationwide\"", "insurer.profile: \"nationwide\" is not a profile; write \"regional\" or \"national\""},
      {"profile = \"regional\"", "profile = 2", "insurer.profile"},
      {"# offline = true", "offline = \"yes\"", "insurer.offline"},
      {"# preview = false", "preview = 1", "insurer.preview"},
      {"# preview = false", "previews = true", "insurer.previews: unknown key"},
  };
  for (const Row& r : rows) {
    CAPTURE(r.to);
    auto c = parse_config(with(usable_example(), r.from, r.to), "settled.toml", base_dir());
    REQUIRE_FALSE(c.ok());
    CHECK(c.error().reason == Reason::invalid_config);
    CHECK_MESSAGE(c.error().message.find(r.expect) != std::string::npos, c.error().message);
    CHECK(c.error().message.find("settled.toml:") == 0);
  }
  auto no_secret = parse_config(example(), "settled.toml", base_dir());
  CHECK(no_secret.error().message.find("insurer.secret_file: cannot read") != std::string::npos);
  auto missing = parse_config("[daemon]\ndata_dir = \"/x\"\n", "settled.toml", base_dir());
  CHECK(missing.error().message.find("daemon.policy: required key is missing") != std::string::npos);
  CHECK(load_config("/nonexistent.toml").error().message.find("cannot open") != std::string::npos);
}

TEST_CASE("[insurer] profile: regional by default, national with its own defaults, offline and preview override") {
  auto regional = parse_config(usable_example(), "settled.toml", base_dir());
  REQUIRE_MESSAGE(regional.ok(), regional.error().message);
  const flow::InsurerProfile& r = regional->insurer.profile;
  CHECK(r.name == flow::ProfileName::regional);
  CHECK(r.line_refund);
  CHECK(r.offline);
  CHECK_FALSE(r.preview);
  CHECK_FALSE(r.account_cap);
  CHECK(r.account_history);
  // No profile key at all: the regional profile, as before profiles existed.
  auto unnamed = parse_config(with(usable_example(), "profile = \"regional\"", ""), "settled.toml", base_dir());
  REQUIRE_MESSAGE(unnamed.ok(), unnamed.error().message);
  CHECK(same_profile(unnamed->insurer.profile, r));

  auto national = parse_config(with(usable_example(), "profile = \"regional\"", "profile = \"national\""),
                               "settled.toml", base_dir());
  REQUIRE_MESSAGE(national.ok(), national.error().message);
  const flow::InsurerProfile& n = national->insurer.profile;
  CHECK(n.name == flow::ProfileName::national);
  CHECK_FALSE(n.line_refund);
  CHECK_FALSE(n.offline);
  CHECK(n.preview);
  CHECK(n.account_cap);
  CHECK_FALSE(n.account_history);

  // The overrides: a national insurer that keeps offline settlement, without the preview.
  auto over = parse_config(with(with(with(usable_example(), "profile = \"regional\"", "profile = \"national\""),
                                     "# offline = true", "offline = true"),
                                "# preview = false", "preview = false"),
                           "settled.toml", base_dir());
  REQUIRE_MESSAGE(over.ok(), over.error().message);
  CHECK(over->insurer.profile.offline);
  CHECK_FALSE(over->insurer.profile.preview);
  CHECK_FALSE(over->insurer.profile.line_refund);  // not an override: the national interface has no 9301
  // And a regional one that previews and never settles offline.
  auto reg = parse_config(with(with(usable_example(), "# offline = true", "offline = false"), "# preview = false",
                               "preview = true"),
                          "settled.toml", base_dir());
  REQUIRE_MESSAGE(reg.ok(), reg.error().message);
  CHECK_FALSE(reg->insurer.profile.offline);
  CHECK(reg->insurer.profile.preview);
  CHECK(reg->insurer.profile.line_refund);

  // The profile is read at the start only: a reload waits for a restart.
  Config running = *regional;
  const ReloadPlan plan = apply_reloadable(running, *national);
  CHECK(same_profile(running.insurer.profile, r));
  CHECK(std::find(plan.restart_needed.begin(), plan.restart_needed.end(), "insurer.profile") != plan.restart_needed.end());
}

TEST_CASE("notify hooks: a command and a webhook as written") {
  auto c = parse_config(with(usable_example(), "redlist_stale_after_s = 86400",
                             "redlist_stale_after_s = 600\n[[notify.hook]]\nname = \"pager\"\n"
                             "events = [\"line_offline\", \"parked\"]\ncommand = [\"/usr/bin/logger\", \"-t\", \"x\"]\n"
                             "[[notify.hook]]\nname = \"chat\"\nevents = [\"line_online\"]\n"
                             "url = \"https://[::1]:8443/h\"\nca_file = \"ca.pem\"\ntimeout_ms = 2000\nattempts = 2\n"),
                        "settled.toml", base_dir());
  REQUIRE_MESSAGE(c.ok(), c.error().message);
  CHECK(c->notify.redlist_stale_after_s == 600);
  REQUIRE(c->notify.hooks.size() == 2);
  CHECK(c->notify.hooks[0].command == std::vector<std::string>{"/usr/bin/logger", "-t", "x"});
  CHECK(c->notify.hooks[0].events == std::vector<NotifyEvent>{NotifyEvent::line_offline, NotifyEvent::parked});
  CHECK(c->notify.hooks[0].attempts == 5);
  CHECK(c->notify.hooks[1].url == "https://[::1]:8443/h");
  CHECK(c->notify.hooks[1].ca_file == base_dir() + "/ca.pem");
  CHECK(c->notify.hooks[1].timeout_ms == 2000);
}

TEST_CASE("the socket's default is /run/settled/cashier.sock; an explicit socket is kept") {
  auto c = parse_config(with(usable_example(), "socket = \"/run/settled/cashier.sock\"", "# no socket"), "settled.toml",
                        base_dir());
  REQUIRE_MESSAGE(c.ok(), c.error().message);
  CHECK(c->cashier.socket_path == "/run/settled/cashier.sock");
  auto old = parse_config(with(usable_example(), "socket = \"/run/settled/cashier.sock\"",
                               "socket = \"/var/lib/settled/cashier.sock\""),
                          "settled.toml", base_dir());
  REQUIRE_MESSAGE(old.ok(), old.error().message);
  CHECK(old->cashier.socket_path == "/var/lib/settled/cashier.sock");
}

TEST_CASE("reload: keys read at each use are taken, the others wait for a restart") {
  auto running = parse_config(usable_example(), "settled.toml", base_dir());
  REQUIRE(running.ok());
  SUBCASE("the same file changes nothing") {
    auto same = parse_config(usable_example(), "settled.toml", base_dir());
    REQUIRE(same.ok());
    const ReloadPlan p = apply_reloadable(*running, *same);
    CHECK(p.applied.empty());
    CHECK(p.restart_needed.empty());
  }
  SUBCASE("limits, deadlines and the log level change; the insurer and the socket do not") {
    std::string text = usable_example();
    text = with(text, "max_age_s = 86400", "max_age_s = 3600");
    text = with(text, "offline_deadline_ms = 1500", "offline_deadline_ms = 2500");
    text = with(text, "log_level = \"info\"", "log_level = \"debug\"");
    text = with(text, "host = \"insurer.example.gov.cn\"", "host = \"insurer2.example.gov.cn\"");
    text = with(text, "socket = \"/run/settled/cashier.sock\"", "socket = \"/run/settled/other.sock\"");
    text = with(text, "failures_to_offline = 2", "failures_to_offline = 3");
    auto fresh = parse_config(text, "settled.toml", base_dir());
    REQUIRE_MESSAGE(fresh.ok(), fresh.error().message);
    const ReloadPlan p = apply_reloadable(*running, *fresh);
    CHECK(p.applied == std::vector<std::string>{"daemon.log_level", "offline.max_age_s", "network.offline_deadline_ms"});
    CHECK(p.restart_needed ==
          std::vector<std::string>{"insurer.host", "cashier.socket", "network.failures_to_offline"});
    CHECK(running->offline_limits.max_age_s == 3600);
    CHECK(running->network.offline_deadline_ms == 2500);
    CHECK(running->log_level == "debug");
    // Taken at start: still the old values.
    CHECK(running->insurer.host == "insurer.example.gov.cn");
    CHECK(running->cashier.socket_path == "/run/settled/cashier.sock");
    CHECK(running->network.failures_to_offline == 2);
  }
}

TEST_CASE("[notices] file: resolved against the config's folder, reloadable; absent: the built-in texts") {
  auto c = parse_config(usable_example(), "settled.toml", base_dir());
  REQUIRE_MESSAGE(c.ok(), c.error().message);
  CHECK(c->notices.file == "/etc/settled/notices.toml");
  const std::string without = with(usable_example(), "file = \"/etc/settled/notices.toml\"", "");
  auto builtin = parse_config(without, "settled.toml", base_dir());
  REQUIRE_MESSAGE(builtin.ok(), builtin.error().message);
  CHECK(builtin->notices.file.empty());
  auto relative = parse_config(with(usable_example(), "\"/etc/settled/notices.toml\"", "\"notices.toml\""),
                               "settled.toml", base_dir());
  REQUIRE_MESSAGE(relative.ok(), relative.error().message);
  CHECK(relative->notices.file == base_dir() + "/notices.toml");
  auto empty = parse_config(with(usable_example(), "\"/etc/settled/notices.toml\"", "\"\""), "settled.toml", base_dir());
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().message.find("notices.file: must not be empty") != std::string::npos);
  auto unknown = parse_config(usable_example() + "texts = 1\n", "settled.toml", base_dir());
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().message.find("notices.texts: unknown key") != std::string::npos);
  const ReloadPlan p = apply_reloadable(*c, *relative);
  CHECK(p.applied == std::vector<std::string>{"notices.file"});
  CHECK(c->notices.file == base_dir() + "/notices.toml");
}
