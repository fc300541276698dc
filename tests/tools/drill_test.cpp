// The outage drill end to end: `drill` started as a process on a short
// scenario (2 windows, all three faults); its exit status, its text report
// and its JSON report must agree and show every fault detected, drained and balanced.
#include "protocol/json.hpp"
#include "tests/support/pdf_print.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using settle::json::Json;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs the drill (bounded by timeout(1)); returns its exit status, output in `log`.
int drill(const std::string& args, const fs::path& log) {
  const std::string cmd = fmt::format("timeout -k 5 100 '{}' {} > '{}' 2>&1", DRILL_PATH, args, log.string());
  const int st = std::system(cmd.c_str());
  REQUIRE(st != -1);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

fs::path work_dir(const char* name) {
  const fs::path d = fs::path(SETTLE_BINARY_DIR) / "e2e" / fmt::format("{}-{}", name, ::getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

}  // namespace

TEST_CASE("drill: bad options are refused with exit status 2, naming the option; --help lists them") {
  const fs::path d = work_dir("drill-options");
  CHECK(drill("--faults refuse,flood", d / "a.log") == 2);
  CHECK(slurp(d / "a.log").find("'flood' is not one of refuse, stall, lost_reply") != std::string::npos);
  CHECK(drill("--windows 0", d / "b.log") == 2);
  CHECK(slurp(d / "b.log").find("--windows must be a number from 1 to 16") != std::string::npos);
  CHECK(drill("--windows=17", d / "b2.log") == 2);  // --opt=value is the same option
  CHECK(slurp(d / "b2.log").find("--windows must be a number from 1 to 16, not '17'") != std::string::npos);
  CHECK(drill("--help", d / "h.log") == 0);
  CHECK(slurp(d / "h.log").find("--max-wait-seconds") != std::string::npos);
  CHECK(drill("--scenario line,flood", d / "s.log") == 2);
  CHECK(slurp(d / "s.log").find("--scenario: 'flood' is not one of line, network, reader, daemon, disk") !=
        std::string::npos);
  CHECK(drill("--scenario network --faults stall", d / "s2.log") == 2);
  CHECK(slurp(d / "s2.log").find("--faults goes with the line scenario") != std::string::npos);
  // A production stack: the daemon is killed only when allowed, the disk never failed.
  const std::string attach = "--attach --socket /x.sock --control 1 --cashier-password-file /etc/hostname "
                             "--supervisor-password-file /etc/hostname";
  CHECK(drill(attach + " --scenario daemon", d / "s3.log") == 2);
  CHECK(slurp(d / "s3.log").find("refused without --allow-disruptive") != std::string::npos);
  CHECK(drill(attach + " --scenario network,reader", d / "s6.log") == 2);
  CHECK(slurp(d / "s6.log").find("--scenario reader cannot run with --attach") != std::string::npos);
  CHECK(drill(attach + " --scenario disk --allow-disruptive", d / "s4.log") == 2);
  CHECK(slurp(d / "s4.log").find("--scenario disk cannot run with --attach") != std::string::npos);
  CHECK(drill(attach + " --scenario daemon --allow-disruptive", d / "s5.log") == 2);
  CHECK(slurp(d / "s5.log").find("needs --daemon-kill-command and --daemon-start-command") != std::string::npos);
  CHECK(drill("--attach --socket /nonexistent.sock", d / "c.log") == 2);
  CHECK(slurp(d / "c.log").find("--attach needs --control") != std::string::npos);
  CHECK_FALSE(fs::exists(d / "drill.txt"));
}

TEST_CASE("drill: attaching to a simulator that is not there fails at once, with a report saying so") {
  const fs::path d = work_dir("drill-attach");
  {
    std::ofstream pw(d / "password");
    pw << "Cashier-2026\n";
  }
  const std::string pw = (d / "password").string();
  const int rc = drill(fmt::format("--attach --socket '{}' --control 1 --cashier-password-file '{}' "
                                   "--supervisor-password-file '{}' --out '{}'",
                                   (d / "none.sock").string(), pw, pw, (d / "drill.txt").string()),
                       d / "drill.log");
  CHECK(rc == 3);  // the simulator attached to cannot be reached
  CHECK(slurp(d / "drill.log").find("drill: bring-up failed") != std::string::npos);  // progress on stderr
  const std::string text = slurp(d / "drill.txt");
  CHECK(text.find("RESULT    FAIL") != std::string::npos);
  CHECK(text.find("cannot reach the simulator's control endpoint 127.0.0.1:1") != std::string::npos);
  const Json j = Json::parse(slurp(d / "drill.json"));
  CHECK(j["passed"] == false);
  CHECK(j["faults"].empty());
  CHECK(j["failures"].size() == 1);
}

TEST_CASE("drill: a short drill of all three faults and the inpatient stay passes, and its reports say why") {
  const fs::path d = work_dir("drill-short");
  const fs::path out = d / "drill.txt";
  const int rc = drill(fmt::format("--scenario line --windows 2 --phase-seconds 3 --drain-seconds 20 "
                                   "--faults refuse,stall,lost_reply --seed 7 --out '{}'",
                                   out.string()),
                       d / "drill.log");
  const std::string log = slurp(d / "drill.log");
  INFO("drill output:\n" << log);
  // A live line per phase on stderr, with its counts.
  CHECK(log.find("drill: fault 1/3 refuse: online baseline") != std::string::npos);
  CHECK(log.find("drill: fault 3/3 lost_reply: outage done, detected") != std::string::npos);
  CHECK(log.find("drill: inpatient stay: ") != std::string::npos);
  REQUIRE(fs::exists(out));
  REQUIRE(fs::exists(d / "drill.json"));
  const std::string text = slurp(out);
  // Plain nlohmann parsing: the report's times are JSON numbers (seconds).
  const Json j = Json::parse(slurp(d / "drill.json"));

  // The exit status, the text and the JSON say the same.
  const bool passed = j["passed"].get<bool>();
  CHECK(rc == (passed ? 0 : 1));
  CHECK(text.find(passed ? "RESULT    PASS" : "RESULT    FAIL") != std::string::npos);
  CHECK(j["options"]["windows"] == 2);
  CHECK(j["options"]["seed"] == 7);
  REQUIRE(j["faults"].size() == 3);
  const char* kinds[] = {"refuse", "stall", "lost_reply"};
  for (std::size_t i = 0; i < 3; ++i) {
    const Json& f = j["faults"][i];
    CAPTURE(f.dump(2));
    CHECK(f["fault"] == kinds[i]);
    CHECK(text.find(fmt::format("Fault {}:", kinds[i])) != std::string::npos);
    // Settling online before the cut worked, and the outage was seen.
    CHECK(f["baseline"]["commits"].get<int>() > 0);
    CHECK(f["baseline"]["errors"] == 0);
    REQUIRE(f["detect_s"].is_number());
    CHECK(f["detect_s"].get<double>() > 0);
    CHECK(f["detect_s"].get<double>() < 20);
    // Offline settlement kept the windows going; nobody was sent away.
    CHECK(f["outage"]["offline"].get<int>() > 0);
    CHECK(f["outage"]["refused"] == 0);
    CHECK(f["longest_wait_s"].get<double>() <= 5.0);
    CHECK(f["outage"]["refunds_not_refused"] == 0);
    // Restored: drained, nothing pending, and the day balanced.
    REQUIRE(f["drain_s"].is_number());
    CHECK(f["status_after_drain"]["network"] == "online");
    CHECK(f["status_after_drain"]["pending_uploads"] == 0);
    CHECK(f["status_after_drain"]["pending_reversals"] == 0);
    CHECK(f["offline_settlements"]["pending"] == 0);
    CHECK(f["balanced"] == true);
    CHECK(f["passed"] == true);
  }
  // A lost reply is in doubt: reversed at the insurer, the charge settled offline.
  CHECK(j["faults"][2]["reversals_sent"].get<int>() > 0);
  CHECK(j["faults"][2]["offline_settlements"]["reason_in_doubt"].get<int>() > 0);
  // The inpatient stay: admitted online, 20 lines sent, 20 stored and one
  // cancelled while down, discharged offline, drained in order, the insurer
  // holding exactly the 39 live lines, the day balanced.
  const Json& st = j["stay"];
  CAPTURE(st.dump(2));
  REQUIRE(st.is_object());
  CHECK(text.find("Inpatient stay:") != std::string::npos);
  CHECK(st["admit_mode"] == "online");
  CHECK(st["lines_sent"] == 20);
  CHECK(st["lines_queued"] == 20);
  CHECK(st["cancelled"] == 1);
  CHECK(st["discharge"]["mode"] == "offline");
  CHECK(st["discharge"]["wait_s"].get<double>() <= 5.0);
  REQUIRE(st["drain_s"].is_number());
  CHECK(st["settlement_state"] == "offline_accepted");
  CHECK(st["insurer_live_lines"] == 39);
  CHECK(st["balanced"] == true);
  CHECK(st["passed"] == true);
  CHECK(j["failures"].empty());
  CHECK(rc == 0);

  // Times in the hospital's zone (UTC+8) whatever the host's, in all three reports.
  CHECK(j["started_at"].get<std::string>().ends_with("+08:00"));
  CHECK(j["faults"][0]["cut_at"].get<std::string>().ends_with("+08:00"));
  CHECK(text.find("+08:00") != std::string::npos);
  // Each fault's criteria, every one met; the adjustments in words.
  for (const Json& f : j["faults"]) {
    REQUIRE(f["criteria"].size() == 8);
    for (const Json& c : f["criteria"]) CHECK_MESSAGE(c["passed"] == true, c.dump());
    CHECK_FALSE(f["adjustments"]["explanation_zh"].get<std::string>().empty());
  }
  // The HTML page printed on A4 by Chromium: the hospital from the daemon's
  // config, each phase's criteria and result, the sign-off block, nothing cut.
  REQUIRE(fs::exists(d / "drill.html"));
  const std::string page = slurp(d / "drill.html");
  using namespace settle::testing;
  const fs::path pdf = print_pdf(d, "drill-print", page);
  const std::string info = pdf_info(pdf);
  CHECK_MESSAGE(info.find("(A4)") != std::string::npos, info);
  CHECK(cjk_font_used(pdf_fonts(pdf)));
  const int width = layout_width(d, "drill", page, 680);
  CHECK_MESSAGE(width <= 680, "the page needs " << width << " px, A4 has 680");
  const std::string printed = pdf_text(pdf);
  INFO(printed);
  CHECK(has_text(printed, "示例市第一人民医院"));
  CHECK(has_text(printed, "断网应急演练报告"));
  CHECK(has_text(printed, "演练结果：通过"));
  CHECK(has_text(printed, "断网期间不拒绝结算"));
  CHECK(has_text(printed, "当日对账平"));
  CHECK(has_text(printed, "调整 adjustments"));
  CHECK(has_text(printed, "住院跨断网"));
  CHECK(has_text(printed, "（北京时间）"));
  CHECK(has_text(printed, "经办人"));
  CHECK(has_text(printed, "复核人"));
}

TEST_CASE("drill: a short run of the network, reader, daemon and disk scenarios passes each one's criteria") {
  const fs::path d = work_dir("drill-scenarios");
  const fs::path out = d / "drill.txt";
  const int rc = drill(fmt::format("--scenario network,reader,daemon,disk --phase-seconds 2 --drain-seconds 20 "
                                   "--seed 11 --out '{}'",
                                   out.string()),
                       d / "drill.log");
  const std::string log = slurp(d / "drill.log");
  INFO("drill output:\n" << log);
  REQUIRE(fs::exists(d / "drill.json"));
  const Json j = Json::parse(slurp(d / "drill.json"));
  const std::string text = slurp(out);
  CHECK(j["faults"].empty());  // the line scenario not asked for
  REQUIRE(j["scenarios"].size() == 4);
  const char* names[] = {"network", "reader", "daemon", "disk"};
  const std::size_t criteria[] = {4, 5, 6, 5};
  for (std::size_t i = 0; i < 4; ++i) {
    const Json& sc = j["scenarios"][i];
    CAPTURE(sc.dump(2));
    CHECK(sc["scenario"] == names[i]);
    CHECK(sc["run"] == true);
    CHECK(text.find(fmt::format("Scenario {}:", names[i])) != std::string::npos);
    CHECK_FALSE(sc["done"].empty());
    CHECK_FALSE(sc["happened"].empty());
    CHECK(sc["waits"]["calls"].get<int>() > 0);
    CHECK(sc["waits"]["max_s"].get<double>() >= sc["waits"]["p50_s"].get<double>());
    REQUIRE(sc["recovery_s"].is_number());
    REQUIRE(sc["criteria"].size() == criteria[i]);
    for (const Json& c : sc["criteria"]) CHECK_MESSAGE(c["passed"] == true, c.dump());
    CHECK(sc["passed"] == true);
  }
  // The disk: the windows were refused with STORAGE_FAILED while it was full.
  CHECK(j["scenarios"][3]["waits"]["error_reasons"].contains("STORAGE_FAILED"));
  // The daemon: served again within seconds of the kill.
  CHECK(j["scenarios"][2]["recovery_s"].get<double>() < 20);
  CHECK(j["passed"] == true);
  CHECK(rc == 0);
  const std::string page = slurp(d / "drill.html");
  CHECK(page.find("结算服务异常终止并重启") != std::string::npos);
  CHECK(page.find("存储故障") != std::string::npos);
}
