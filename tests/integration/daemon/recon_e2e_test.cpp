// Reconciliation end to end: the real settled, insurer-sim (mutual TLS) and
// virtual cards; the reconcile program over the socket. A balanced day with
// a partial refund and an inpatient stay, outpatient and inpatient totals
// apart; a difference in the stay's settlement alone; then each kind of
// difference injected at the simulator. Built twice: SETTLE_E2E_PROFILE
// "regional" (the default) or "national", where the refund of part is the
// original undone and the kept lines settled anew, and commits carry the visit.
#include "tests/support/daemon_harness.hpp"
#include "tests/support/pdf_print.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

#ifndef SETTLE_E2E_PROFILE
#define SETTLE_E2E_PROFILE "regional"
#endif

// The insurer profile of both sides (settled's [insurer] profile, insurer-sim --profile).
bool national() { return std::string_view(SETTLE_E2E_PROFILE) == "national"; }

using settle::Amount;
using settle::testing::amount_at;
using settle::testing::Json;
using settle::testing::PersonSpec;
using settle::testing::visit_facts;
using settle::testing::reason_of;
using settle::testing::RpcClient;
using settle::testing::Stack;

Json visit_lines() {
  return Json::array({Json{{"code", "110200001"}, {"name", "普通门诊诊查费"}, {"class", "A"}, {"amount", "25.00"}},
                      Json{{"code", "86900001"}, {"name", "阿莫西林胶囊"}, {"class", "B"}, {"amount", "48.60"}},
                      Json{{"code", "C0001"}, {"name", "自费营养品"}, {"class", "C"}, {"amount", "66.00"}}});
}

using Run = settle::testing::ProgramRun;
using settle::testing::slurp;

// The reconcile program with these arguments; stdout and stderr kept.
Run reconcile(const Stack& s, const std::string& args) {
  return settle::testing::run_shell(fmt::format("{} --socket {} {}", SETTLE_RECONCILE_BINARY, s.socket_path(), args), s.dir(),
                                    "reconcile");
}

Json inject(const Stack& s, const Json& body) {
  const auto r = s.sim_control("POST", "/inject", body);
  REQUIRE_MESSAGE(r.status == 200, r.body.dump());
  return r.body;
}

struct Done {
  std::string local_id, insurer_id, date;
  Json detail;
};

}  // namespace

TEST_CASE("reconciliation: a balanced day, then every kind of difference found, reported and exited 1") {
  Stack s(national() ? "recon-e2e-national" : "recon-e2e");
  s.profile = SETTLE_E2E_PROFILE;
  std::vector<PersonSpec> persons{settle::testing::person(41), settle::testing::person(42), settle::testing::person(43)};
  persons[2].insutype = "390";
  PersonSpec patient = settle::testing::person(44);  // an inpatient stay, insurance type 390
  patient.insutype = "390";
  std::vector<PersonSpec> everyone = persons;
  everyone.push_back(patient);
  s.start_all(everyone);

  // Three settlements (two insurance types) and a partial refund.
  std::vector<Done> done;
  for (const PersonSpec& p : persons) {
    s.insert_card(0, p);
    auto c = s.session(Stack::cashier, "W01");
    Json r = c->call("card.read", Json{{"timeout_ms", 5000}});
    REQUIRE_MESSAGE(r.contains("result"), r.dump());
    r = c->call("card.verify_pin", Json{{"pin", p.pin}});
    REQUIRE_MESSAGE(r.contains("result"), r.dump());
    Json commit{{"request_id", "recon-" + p.card_no}, {"lines", visit_lines()}, {"use_account", true}};
    if (national()) commit["visit"] = visit_facts();
    r = c->call("settle.commit", commit);
    REQUIRE_MESSAGE(r.contains("result"), r.dump());
    Done d;
    d.local_id = r["result"]["setl_id"].get<std::string>();
    if (done.empty()) {
      const Json rf = c->call("settle.refund", Json{{"request_id", "recon-refund-1"}, {"setl_id", d.local_id},
                                                    {"lines", Json::array({Json{{"code", "C0001"}, {"amount", "66.00"}}})}});
      REQUIRE_MESSAGE(rf.contains("result"), rf.dump());
      if (national()) {
        // The original undone (2208), the kept lines settled anew (2207): the day
        // holds the new settlement, and it is the one followed from here on.
        const Json orig = c->call("settle.get", Json{{"setl_id", d.local_id}});
        REQUIRE_MESSAGE(orig.contains("result"), orig.dump());
        CHECK(orig["result"]["state"] == "undone");
        REQUIRE_MESSAGE(rf["result"].contains("settlement"), rf.dump());
        d.local_id = rf["result"]["settlement"]["setl_id"].get<std::string>();
      }
    }
    const Json g = c->call("settle.get", Json{{"setl_id", d.local_id}});
    REQUIRE_MESSAGE(g.contains("result"), g.dump());
    d.detail = g["result"];
    d.insurer_id = d.detail["insurer"]["setl_id"].get<std::string>();
    d.date = d.detail["clearing_date"].get<std::string>();
    done.push_back(d);
  }
  CHECK(done[0].detail["state"] == (national() ? "settled" : "partly_refunded"));

  // A stay: admitted, charged, discharged (settled at the insurer by 2401, 2301, 2402, 2304).
  Done stay;
  {
    s.insert_card(0, patient);
    auto c = s.session(Stack::cashier, "W01");
    Json r = c->call("card.read", Json{{"timeout_ms", 5000}});
    REQUIRE_MESSAGE(r.contains("result"), r.dump());
    r = c->call("card.verify_pin", Json{{"pin", patient.pin}});
    REQUIRE_MESSAGE(r.contains("result"), r.dump());
    const Json adm = c->call("inpatient.admit", Json{{"request_id", "recon-adm-1"}, {"dept", "0301"}, {"diagnosis", "K35.8"}});
    REQUIRE_MESSAGE(adm.contains("result"), adm.dump());
    const std::string adm_id = adm["result"]["adm_id"].get<std::string>();
    const Json lines = Json::array(
        {Json{{"feedetl_sn", "0001"}, {"code", "250101001"}, {"name", "住院床位费"}, {"class", "A"}, {"amount", "300.00"}},
         Json{{"feedetl_sn", "0002"}, {"code", "86900001"}, {"name", "阿莫西林胶囊"}, {"class", "B"}, {"amount", "1200.50"}}});
    r = c->call("inpatient.add_lines", Json{{"request_id", "recon-adm-1-l1"}, {"adm_id", adm_id}, {"lines", lines}});
    REQUIRE_MESSAGE(r.contains("result"), r.dump());
    r = c->call("inpatient.discharge", Json{{"request_id", "recon-adm-1-d"}, {"adm_id", adm_id}, {"use_account", true}});
    REQUIRE_MESSAGE(r.contains("result"), r.dump());
    CHECK(r["result"]["visit"] == "inpatient");
    stay.local_id = r["result"]["setl_id"].get<std::string>();
    const Json g = c->call("settle.get", Json{{"setl_id", stay.local_id}});
    REQUIRE_MESSAGE(g.contains("result"), g.dump());
    stay.detail = g["result"];
    stay.insurer_id = stay.detail["insurer"]["setl_id"].get<std::string>();
    stay.date = stay.detail["clearing_date"].get<std::string>();
  }
  const std::string date = done[0].date;
  for (const Done& d : done) REQUIRE(d.date == date);  // (a run across midnight UTC+8 would split the day)
  REQUIRE(stay.date == date);

  const std::string creds = (s.dir() / "recon.credentials").string();
  {
    std::ofstream f(creds);
    f << "# nightly reconciliation\noperator=" << Stack::supervisor.name << "\npassword=" << Stack::supervisor.password
      << "\nwindow=W01\n";
  }
  const std::string html = (s.dir() / "recon.html").string(), json_file = (s.dir() / "recon.json").string();

  {
    // Roles and the date are checked by the daemon.
    auto cashier = s.session(Stack::cashier, "W01");
    CHECK(reason_of(cashier->call("recon.run", Json{{"date", date}})) == "FORBIDDEN");
    auto sup = s.session(Stack::supervisor, "W01");
    CHECK(reason_of(sup->call("recon.run", Json{{"date", "2026-13-40"}})) == "INVALID_REQUEST");
    CHECK(reason_of(sup->call("recon.run", Json{{"date", "yesterday"}})) == "INVALID_REQUEST");
    auto aud = s.session(Stack::auditor, "W01");
    const Json a = aud->call("recon.run", Json{{"date", date}});
    REQUIRE_MESSAGE(a.contains("result"), a.dump());
    CHECK(a["result"]["balanced"] == true);
  }

  // The balanced day.
  {
    const Run r = reconcile(s, fmt::format("--credentials {} --date {} --html {} --json {}", creds, date, html, json_file));
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.status == 0);
    CHECK(r.out.find("BALANCED") != std::string::npos);
    // Progress on stderr: the start of recon.run and how it ended.
    CHECK(r.err.find("reconcile: reconciling " + date + " with the insurer (recon.run) ...") != std::string::npos);
    CHECK(r.err.find("(recon.run) balanced in ") != std::string::npos);
    const Json j = Json::parse(slurp(json_file));
    CHECK(j["date"] == date);
    CHECK(j["balanced"] == true);
    CHECK(j["differences"].empty());
    CHECK(j["local"]["count"] == 4);
    CHECK(j["local"] == j["insurer"]);
    CHECK(j["by_insutype"].size() == 2);
    // Outpatient and inpatient apart: over all types and per insurance type.
    CHECK(j["outpatient"]["clr_type"] == "11");
    CHECK(j["outpatient"]["local"]["count"] == 3);
    CHECK(j["inpatient"]["clr_type"] == "21");
    CHECK(j["inpatient"]["local"]["count"] == 1);
    CHECK(j["inpatient"]["balanced"] == true);
    CHECK(amount_at(j["inpatient"]["local"], "total") == amount_at(stay.detail, "total"));
    CHECK(j["inpatient"]["local"] == j["inpatient"]["insurer"]);
    for (const Json& t : j["by_insutype"]) {
      INFO(t.dump());
      CHECK(t["balanced"] == true);
      CHECK(t["outpatient"]["balanced"] == true);
      CHECK(t["inpatient"]["balanced"] == true);
      if (t["insutype"] == "390") {
        CHECK(t["outpatient"]["local"]["count"] == 1);
        CHECK(t["inpatient"]["local"]["count"] == 1);
        CHECK(t["local"]["count"] == 2);
      } else {
        CHECK(t["inpatient"]["local"]["count"] == 0);
      }
    }
    CHECK(r.out.find("inpatient") != std::string::npos);
    // The insurer's own totals: the simulator's report (all of it is this day).
    const Json rep = s.report();
    CHECK(amount_at(j["insurer"], "total") == amount_at(rep["totals"], "medfee_sumamt"));
    CHECK(amount_at(j["insurer"], "fund") == amount_at(rep["totals"], "fund_pay_sumamt"));
    CHECK(amount_at(j["insurer"], "account") == amount_at(rep["totals"], "acct_pay"));
    CHECK(amount_at(j["insurer"], "cash") == amount_at(rep["totals"], "psn_cash_pay"));
    // Net of the refund: 66.00 less than three whole visits (under the national
    // profile the new settlement's total is already the kept lines').
    Amount whole = amount_at(stay.detail, "total");
    for (const Done& d : done) whole += amount_at(d.detail, "total");
    CHECK(amount_at(j["local"], "total") == whole - settle::Amount::fen(national() ? 0 : 6600));
    if (national()) CHECK(amount_at(done[0].detail, "total") == amount_at(done[1].detail, "total") - Amount::fen(6600));
    const std::string page = slurp(html);
    CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
    CHECK(page.find("</html>") != std::string::npos);
    CHECK(page.find("对账结果：平") != std::string::npos);
  }
  // Another day with nothing on either side balances too.
  {
    const Run r = reconcile(s, fmt::format("--credentials {} --date 2001-01-01 --json", creds));
    INFO(r.err);
    CHECK(r.status == 0);
    const Json j = Json::parse(r.out);
    CHECK(j["local"]["count"] == 0);
  }

  // A difference in the stay's settlement alone: the inpatient totals differ,
  // the outpatient ones agree; the detail names the settlement as inpatient.
  {
    const Amount fund = amount_at(stay.detail, "fund");
    inject(s, Json{{"op", "alter_amount"}, {"setl_id", stay.insurer_id}, {"field", "fund_pay_sumamt"},
                   {"amount", settle::format_amount(fund + Amount::fen(100))}});
    const Run r = reconcile(s, fmt::format("--credentials {} --date {} --json {}", creds, date, json_file));
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.status == 1);
    const Json j = Json::parse(slurp(json_file));
    CHECK(j["balanced"] == false);
    CHECK(j["totals_balanced"] == false);
    CHECK(j["outpatient"]["balanced"] == true);
    CHECK(j["inpatient"]["balanced"] == false);
    CHECK(amount_at(j["inpatient"]["insurer"], "fund") == amount_at(j["inpatient"]["local"], "fund") + Amount::fen(100));
    for (const Json& t : j["by_insutype"]) {
      INFO(t.dump());
      CHECK(t["outpatient"]["balanced"] == true);
      CHECK(t["inpatient"]["balanced"] == (t["insutype"] != "390"));
      CHECK(t["balanced"] == (t["insutype"] != "390"));
    }
    REQUIRE(j["differences"].size() == 1);
    const Json& d = j["differences"][0];
    CHECK(d["kind"] == "amount_mismatch");
    CHECK(d["setl_id"] == stay.insurer_id);
    CHECK(d["visit_type"] == "inpatient");
    CHECK(d["clr_type"] == "21");
    CHECK(d["local"]["clr_type"] == "21");
    CHECK(d["insurer"]["clr_type"] == "21");
    // The text report: the 390 inpatient line differs, the outpatient ones do not.
    bool inpatient_differs = false, outpatient_differs = false;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      if (line.find("DIFFERS") == std::string::npos) continue;
      if (line.find("inpatient") != std::string::npos) inpatient_differs = true;
      if (line.find("outpatient") != std::string::npos) outpatient_differs = true;
    }
    CHECK(inpatient_differs);
    CHECK_FALSE(outpatient_differs);
    inject(s, Json{{"op", "alter_amount"}, {"setl_id", stay.insurer_id}, {"field", "fund_pay_sumamt"},
                   {"amount", settle::format_amount(fund)}});
    CHECK(reconcile(s, fmt::format("--credentials {} --date {} --json", creds, date)).status == 0);
  }
  // Under systemd: the password from the credential reconcile-password
  // ($CREDENTIALS_DIRECTORY, LoadCredential=), the operator and window as options.
  {
    const auto cred_dir = s.dir() / "credentials";
    std::filesystem::create_directories(cred_dir);
    std::ofstream(cred_dir / "reconcile-password") << Stack::supervisor.password << "\n";
    ::setenv("CREDENTIALS_DIRECTORY", cred_dir.c_str(), 1);
    const Run r = reconcile(s, fmt::format("--operator {} --window W01 --date {} --json", Stack::supervisor.name, date));
    ::unsetenv("CREDENTIALS_DIRECTORY");
    CHECK_MESSAGE(r.status == 0, r.err);
  }

  // Every kind of difference, injected at the insurer.
  const std::string psn_no = done[0].detail["psn_no"].get<std::string>();
  const Json added = inject(s, Json{{"op", "add_settlement"}, {"psn_no", psn_no}, {"medfee_sumamt", "12.00"},
                                    {"fund_pay_sumamt", "10.00"}, {"acct_pay", "0.00"}, {"psn_cash_pay", "2.00"},
                                    {"setl_time", date + " 12:00:00"}});
  const std::string only_insurer = added["setl_id"].get<std::string>();
  inject(s, Json{{"op", "delete"}, {"setl_id", done[0].insurer_id}});  // only_local (the refunded one; national: its new settlement)
  const Amount fund1 = amount_at(done[1].detail, "fund");
  inject(s, Json{{"op", "alter_amount"}, {"setl_id", done[1].insurer_id}, {"field", "fund_pay_sumamt"},
                 {"amount", settle::format_amount(fund1 + Amount::fen(100))}});
  inject(s, Json{{"op", "set_state"}, {"setl_id", done[2].insurer_id}, {"state", "undone"}});

  const Run r = reconcile(s, fmt::format("--credentials {} --date {} --html {} --json {}", creds, date, html, json_file));
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.status == 1);
  CHECK(r.out.find("NOT BALANCED") != std::string::npos);
  const Json j = Json::parse(slurp(json_file));
  CHECK(j["balanced"] == false);
  CHECK(j["detail_compared"] == true);
  std::map<std::string, Json> by_kind;
  for (const Json& d : j["differences"]) by_kind[d["kind"].get<std::string>()] = d;
  REQUIRE(j["differences"].size() == 4);
  REQUIRE(by_kind.size() == 4);
  CHECK(by_kind["only_insurer"]["setl_id"] == only_insurer);
  CHECK(by_kind["only_insurer"]["insurer"]["total"] == "12.00");
  CHECK_FALSE(by_kind["only_insurer"].contains("local"));
  CHECK(by_kind["only_local"]["setl_id"] == done[0].insurer_id);
  CHECK(by_kind["only_local"]["local_setl_id"] == done[0].local_id);
  CHECK(by_kind["only_local"]["local"]["state"] == (national() ? "untouched" : "refunded"));
  CHECK(by_kind["amount_mismatch"]["setl_id"] == done[1].insurer_id);
  CHECK(amount_at(by_kind["amount_mismatch"]["insurer"], "fund") == fund1 + Amount::fen(100));
  CHECK(amount_at(by_kind["amount_mismatch"]["local"], "fund") == fund1);
  CHECK(by_kind["state_mismatch"]["setl_id"] == done[2].insurer_id);
  CHECK(by_kind["state_mismatch"]["insurer"]["state"] == "undone");
  CHECK(by_kind["state_mismatch"]["local"]["state"] == "untouched");
  CHECK(j["difference_counts"]["only_local"] == 1);
  CHECK(j["hospital"]["name"] == "示例市第一人民医院");
  CHECK(j["adjustments"]["offline_upload"]["count"] == 0);
  CHECK(j["adjustments"]["correction"]["fund"] == "0.00");
  for (const Json& d : j["differences"]) CHECK(d["visit_type"] == "outpatient");
  // Totals: the 390 type lost its only outpatient settlement at the insurer; its stay still agrees.
  CHECK(j["inpatient"]["balanced"] == true);
  CHECK(j["outpatient"]["balanced"] == false);
  for (const Json& t : j["by_insutype"]) {
    CHECK(t["balanced"] == false);
    CHECK(t["outpatient"]["balanced"] == false);
    CHECK(t["inpatient"]["balanced"] == true);
    if (t["insutype"] == "390") CHECK(t["outpatient"]["insurer"]["count"] == 0);
  }
  const std::string page = slurp(html);
  CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(page.find("</html>") != std::string::npos);
  for (const char* kind : {"only_local", "only_insurer", "amount_mismatch", "state_mismatch"})
    CHECK_MESSAGE(page.find(kind) != std::string::npos, kind);
  CHECK(page.find("<script") == std::string::npos);  // self-contained and static
  // The page as the office prints it: A4 portrait, nothing cut at the right,
  // the hospital, the insurance types by name, the differences explained,
  // the sign-off block.
  {
    using namespace settle::testing;
    const auto pdf = print_pdf(s.dir(), "recon", page);
    const std::string info = pdf_info(pdf);
    CHECK_MESSAGE(info.find("(A4)") != std::string::npos, info);
    CHECK(pdf_pages(info) >= 1);
    CHECK(cjk_font_used(pdf_fonts(pdf)));
    const int width = layout_width(s.dir(), "recon", page, 680);
    CHECK_MESSAGE(width <= 680, "the page needs " << width << " px, A4 has 680");
    const std::string text = pdf_text(pdf);
    INFO(text);
    CHECK(has_text(text, "示例市第一人民医院"));
    CHECK(has_text(text, "H11010500001"));
    CHECK(has_text(text, "医疗保险对账报告"));
    CHECK(has_text(text, "对账结果：不平"));
    CHECK(has_text(text, "职工基本医疗保险"));
    CHECK(has_text(text, "城乡居民基本医疗保险"));
    CHECK(has_text(text, "金额不符"));
    CHECK(has_text(text, "以医保中心金额为准"));
    CHECK(has_text(text, "离线结算的调整"));
    CHECK(has_text(text, by_kind["only_local"]["msgid"].get<std::string>()));  // the longest id, whole
    CHECK(has_text(text, "经办人"));
    CHECK(has_text(text, "复核人"));
    CHECK(has_text(text, "日期"));
    CHECK(has_text(text, "（北京时间）"));
  }

  // The summary is in the audit trail: another run answers the same.
  auto aud = s.session(Stack::auditor, "W01");
  const Json again = aud->call("recon.run", Json{{"date", date}});
  REQUIRE_MESSAGE(again.contains("result"), again.dump());
  CHECK(again["result"]["differences"] == j["differences"]);

  // Errors (docs/operations.md, "Exit codes"): a wrong password exits 4 (with
  // --json a JSON object on stdout), a bad credentials file 2, an unknown socket 3.
  {
    const std::string bad = (s.dir() / "bad.credentials").string();
    std::ofstream(bad) << "operator=" << Stack::supervisor.name << "\npassword=wrong-one\nwindow=W01\n";
    const Run w = reconcile(s, fmt::format("--credentials {} --date {}", bad, date));
    CHECK(w.status == 4);
    CHECK(w.err.find("refused") != std::string::npos);
    const Run wj = reconcile(s, fmt::format("--credentials {} --date {} --json", bad, date));
    CHECK(wj.status == 4);
    const Json e = Json::parse(wj.out);
    CHECK(e["error"]["exit_code"] == 4);
    CHECK(e["error"]["message"].get<std::string>().find("login as") != std::string::npos);
    std::ofstream(bad) << "user=x\n";
    CHECK(reconcile(s, fmt::format("--credentials {} --date {}", bad, date)).status == 2);
    // (reconcile() gives --socket already: a second one is a usage error.)
    CHECK(reconcile(s, fmt::format("--credentials {} --date {} --socket /nonexistent/sock", creds, date)).status == 2);
    const Run u = settle::testing::run_shell(
        fmt::format("{} --socket /nonexistent/sock --credentials {} --date {}", SETTLE_RECONCILE_BINARY, creds, date),
        s.dir(), "reconcile-no-socket");
    CHECK(u.status == 3);
    CHECK(u.err.find("/nonexistent/sock") != std::string::npos);
    // A stopped daemon says so; reconcile starts nothing.
    CHECK_MESSAGE(u.err.find("settled is not running or not reachable") != std::string::npos, u.err);
  }
}
