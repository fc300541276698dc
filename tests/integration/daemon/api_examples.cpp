// The cashier API reference's examples: one shift over the real stack
// (insurer-sim, pcscd with a virtual card, settled) calling every method, each
// line written and read kept as on the wire in a transcript for the reference.
#include "engine/money.hpp"
#include "protocol/cashier/rpc.hpp"
#include "protocol/cashier/version.hpp"
#include "tests/support/daemon_harness.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

using settle::testing::Json;
using settle::testing::RpcClient;
using settle::testing::Stack;

namespace {

Json charge_lines() {
  return Json::array({Json{{"code", "110200001"}, {"name", "普通门诊诊查费"}, {"class", "A"}, {"amount", "25.00"}},
                      Json{{"code", "86900001"}, {"name", "阿莫西林胶囊"}, {"class", "B"}, {"amount", "48.60"}},
                      Json{{"code", "250310005"}, {"name", "血常规检查"}, {"class", "B"}, {"amount", "30.00"},
                           {"selfpay_ratio", "0.20"}},
                      Json{{"code", "C0001"}, {"name", "自费营养品"}, {"class", "C"}, {"amount", "66.00"}}});
}

Json stay_line(const std::string& sn, const std::string& amount, const std::string& cls = "A") {
  return Json{{"feedetl_sn", sn}, {"code", cls == "C" ? "C0001" : "250101001"}, {"name", "住院床位费"},
              {"class", cls}, {"amount", amount}};
}

std::string today() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char b[16];
  std::strftime(b, sizeof b, "%Y-%m-%d", &tm);
  return b;
}

}  // namespace

TEST_CASE("every cashier API method once, the wire kept in a transcript") {
  const char* out_env = std::getenv("SETTLE_API_EXAMPLES_OUT");
  const std::string out_path = out_env != nullptr ? out_env : std::string(SETTLE_BINARY_DIR) + "/cashier-api-examples.txt";
  std::ofstream out(out_path, std::ios::trunc);
  REQUIRE(out.good());
  Stack s("api-examples");
  // Quick to notice the line down and back, and to park a refused reversal.
  s.extra_config = R"(
[network]
probe_interval_ms = 200
failures_to_offline = 1
offline_deadline_ms = 1000
[reversal]
retry_initial_ms = 50
retry_max_ms = 100
park_after_refusals = 2
)";
  s.start_all({settle::testing::person(1)});
  s.insert_card(0, settle::testing::person(1));

  std::set<std::string> called;
  std::vector<std::pair<Json, Json>> exchanges;  // (method and params, answer) of every call below
  const auto traced = [&](std::unique_ptr<RpcClient> c, const std::string& who) {
    RpcClient* raw = c.get();
    raw->transcript = [&out, who](char dir, const std::string& line) { out << who << ' ' << dir << ' ' << line << '\n'; };
    return c;
  };
  const auto call = [&](RpcClient& c, const std::string& method, const Json& params = Json::object()) {
    called.insert(method);
    const Json r = c.call(method, params);
    exchanges.emplace_back(Json{{"method", method}, {"params", params}}, r);
    if (!r.contains("result")) MESSAGE(method << " answered an error: " << r.dump());
    return r.contains("result") ? r["result"] : Json::object();
  };

  // Before a login.
  auto anon = traced(s.connect(), "anonymous");
  call(*anon, "engine.status");
  call(*anon, "card.read");  // refused: the Errors chapter's example

  // The cashier's shift at W01.
  auto c = traced(s.connect(), "cashier");
  call(*c, "session.login", Json{{"operator", Stack::cashier.name}, {"password", Stack::cashier.password}, {"window", "W01"}});
  call(*c, "events.subscribe", Json{{"topics", Json::array({"card", "network"})}});
  s.card(0)->remove(true);
  s.card(0)->insert(true);
  c->wait_notification("card.inserted", std::chrono::seconds(5));
  // The other credentials first (1.3); card.read then replaces them.
  call(*c, "credential.id", Json{{"id_no", settle::testing::person(1).id_no}});
  call(*c, "credential.scan", Json{{"qr", "EC1100000000000001A7F3"}});
  call(*c, "card.read", Json{{"timeout_ms", 5000}});
  call(*c, "card.verify_pin", Json{{"pin", "123456"}});
  call(*c, "person.query");
  call(*c, "account.history", Json{{"from", today()}});
  call(*c, "settle.preview", Json{{"lines", charge_lines()}, {"use_account", true}});
  const Json first = call(*c, "settle.commit", Json{{"request_id", "HIS-000123"}, {"lines", charge_lines()}, {"use_account", true}});
  const std::string setl1 = first.value("setl_id", "1");
  call(*c, "settle.get", Json{{"setl_id", setl1}});
  call(*c, "settle.list", Json{{"from", today()}, {"to", today()}, {"limit", 1}});
  call(*c, "settle.sheet", Json{{"setl_id", setl1}});
  call(*c, "settle.refund", Json{{"request_id", "HIS-R-0009"}, {"setl_id", setl1},
                                 {"lines", Json::array({Json{{"code", "C0001"}, {"amount", "66.00"}}})}});
  const Json cash_only = call(*c, "settle.commit",
                              Json{{"request_id", "HIS-000124"}, {"lines", charge_lines()}, {"use_account", false}});
  call(*c, "settle.resettle", Json{{"request_id", "HIS-RS-0002"}, {"setl_id", cash_only.value("setl_id", "2")}});
  const Json cash_paid = call(*c, "settle.commit",
                              Json{{"request_id", "HIS-000126"}, {"lines", charge_lines()}, {"use_account", false}});

  // A stay.
  const Json adm = call(*c, "inpatient.admit", Json{{"request_id", "ZY-ADM-0001"}, {"dept", "0301"}, {"dept_name", "普外科"},
                                                    {"diagnosis", "K35.8"}, {"diagnosis_name", "急性阑尾炎"}});
  const std::string adm_id = adm.value("adm_id", "1");
  call(*c, "inpatient.add_lines", Json{{"request_id", "ZY-B-0001"}, {"adm_id", adm_id},
                                       {"lines", Json::array({stay_line("0001", "300.00"), stay_line("0002", "1200.50", "B"),
                                                              stay_line("0003", "80.00", "C")})}});
  call(*c, "inpatient.cancel_lines", Json{{"request_id", "ZY-X-0001"}, {"adm_id", adm_id}, {"feedetl_sn", Json::array({"0003"})}});
  call(*c, "inpatient.preview", Json{{"adm_id", adm_id}, {"use_account", true}});
  call(*c, "inpatient.get", Json{{"adm_id", adm_id}, {"limit", 10}});
  call(*c, "inpatient.list", Json{{"state", "admitted"}});
  call(*c, "inpatient.discharge", Json{{"request_id", "ZY-D-0001"}, {"adm_id", adm_id}, {"use_account", true}});
  call(*c, "inpatient.undo_discharge", Json{{"request_id", "ZY-UD-0001"}, {"adm_id", adm_id}});
  call(*c, "inpatient.cancel_lines", Json{{"request_id", "ZY-X-0002"}, {"adm_id", adm_id},
                                          {"feedetl_sn", Json::array({"0001", "0002"})}});
  call(*c, "inpatient.undo_admit", Json{{"request_id", "ZY-UA-0001"}, {"adm_id", adm_id}});

  // The office logs in; then the insurer loses a settlement's reply and
  // refuses its reversal: the charge is settled offline, the reversal parked.
  auto sup = traced(s.connect(), "supervisor");
  call(*sup, "session.login", Json{{"operator", Stack::supervisor.name}, {"password", Stack::supervisor.password}, {"window", "W02"}});
  call(*sup, "events.subscribe", Json{{"topics", Json::array({"network", "work"})}});
  auto aud = traced(s.connect(), "auditor");
  call(*aud, "session.login", Json{{"operator", Stack::auditor.name}, {"password", Stack::auditor.password}, {"window", "W02"}});
  auto watch = s.session(Stack::auditor, "W02");  // polls engine.status, not in the transcript
  s.set_faults({"lost_reply:count=1,infno=2207", "error:infno=2601", "drop_request:infno=9001"});
  call(*c, "settle.commit", Json{{"request_id", "HIS-000125"}, {"lines", charge_lines()}, {"use_account", true}});
  s.set_faults({"error:infno=2601"});
  const auto parked_once = [](const Json& j) {
    return j["network"] == "online" && j["pending_reversals"] == 0 && j["parked_reversals"] == 1;
  };
  settle::testing::wait_status(*watch, parked_once, std::chrono::seconds(30), "the reversal was not parked");
  const Json parked = call(*sup, "outbox.parked");
  REQUIRE(parked["items"].size() == 1);
  const std::int64_t item_id = parked["items"][0]["item_id"].get<std::int64_t>();
  call(*sup, "outbox.retry", Json{{"item_id", item_id}, {"queue", "outbox"}});
  settle::testing::wait_status(*watch, parked_once, std::chrono::seconds(30), "the retried reversal was not parked again");
  const Json resolved = call(*sup, "outbox.resolve", Json{{"item_id", item_id}, {"note", "reversed by the insurance office by phone"}});
  s.clear_faults();
  call(*sup, "uploads.flush");
  call(*sup, "redlist.sync", Json{{"full", true}});
  call(*sup, "recon.run", Json{{"date", today()}});

  // The lost reply took the line offline for a moment: its outage record.
  settle::testing::wait_status(
      *watch, [](const Json& j) { return j["network"] == "online"; }, std::chrono::seconds(30), "the line is not back");
  const Json outages = call(*sup, "outage.list", Json{{"from", today()}, {"kind", "line"}});
  const std::int64_t outage_id =
      outages.contains("outages") && !outages["outages"].empty() ? outages["outages"][0]["outage_id"].get<std::int64_t>() : 1;
  call(*sup, "outage.note", Json{{"outage_id", outage_id}, {"target", "信息科"}, {"detail", "电话 8801, 14:05"}});
  call(*aud, "outage.get", Json{{"outage_id", outage_id}});
  call(*sup, "outage.record", Json{{"kind", "network"}, {"cause", "交换机故障, 门诊二楼收费处断网"},
                                   {"started_at", today() + "T00:10:00+08:00"}, {"ended_at", today() + "T00:25:00+08:00"},
                                   {"note", "收费处改用纸质台账"}});
  // What a window shows a patient whose refund was refused while offline.
  call(*c, "notice.get", Json{{"reason", "OFFLINE_REFUND_FORBIDDEN"}});

  // Corrections: one refused, two approved (by a second person).
  using settle::format_amount;
  using settle::testing::amount_at;
  using settle::testing::fen;
  const auto moved = [&](std::int64_t f) {
    return Json{{"target", "settlement"}, {"setl_id", cash_paid.value("setl_id", "4")}, {"action", "amounts"},
                {"fund", format_amount(amount_at(cash_paid, "fund") + fen(f))},
                {"account", format_amount(amount_at(cash_paid, "account"))},
                {"cash", format_amount(amount_at(cash_paid, "cash") - fen(f))},
                {"reason", "the insurer's 3202 row counts more from the fund"}};
  };
  const Json corr_a = call(*sup, "correction.record", moved(200));
  sup->wait_notification("work.added", std::chrono::seconds(5));
  call(*aud, "correction.refuse", Json{{"correction_id", std::stoll(corr_a.value("correction_id", "1"))}, {"note", "the 3202 row is right"}});
  const Json corr_b = call(*sup, "correction.record", moved(100));
  call(*sup, "work.list");
  call(*sup, "correction.list", Json{{"state", "recorded"}});
  call(*aud, "correction.approve", Json{{"correction_id", std::stoll(corr_b.value("correction_id", "2"))}, {"note", "checked against the insurer's 3202 row"}});
  if (resolved.contains("correction")) {
    const Json& rc = resolved["correction"];
    const std::string id = rc.is_object() ? rc.value("correction_id", "3") : rc.is_string() ? rc.get<std::string>() : rc.dump();
    aud->call("correction.approve", Json{{"correction_id", std::stoll(id)}});
  }

  // The paper emergency ledger re-entered (docs/reentry.md): a batch entered,
  // refused by a second person, entered again and approved. Its paper times
  // are fixed (00:05 and 00:12 Beijing time today) so the examples stay alike
  // from run to run; run it after 00:12.
  const std::string paper_day = [] {
    const std::time_t t = std::time(nullptr) + 8 * 3600;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char b[16];
    std::strftime(b, sizeof b, "%Y-%m-%d", &tm);
    return std::string(b);
  }();
  const auto paper_row = [&](const std::string& hhmm, const std::string& cash) {
    return Json{{"at", paper_day + "T" + hhmm + ":00+08:00"}, {"window", "W03"}, {"operator", "c003"},
                {"card_no", "E00000001"}, {"psn_name", "张三"},
                {"lines", Json::array({Json{{"code", "110200001"}, {"name", "普通门诊诊查费"}, {"class", "A"}, {"amount", "25.00"}},
                                       Json{{"code", "86900001"}, {"name", "阿莫西林胶囊"}, {"class", "B"}, {"amount", "48.60"}}})},
                {"cash", cash}};
  };
  const Json paper_a = call(*sup, "reentry.record",
                            Json{{"batch_ref", "PAPER-W03-1"}, {"rows", Json::array({paper_row("00:05", "73.60")})}});
  call(*aud, "reentry.refuse", Json{{"batch_id", paper_a.value("batch_id", 1)}, {"note", "the card number differs from the paper"}});
  const Json paper_b = call(*sup, "reentry.record",
                            Json{{"batch_ref", "PAPER-W03-2"},
                                 {"rows", Json::array({paper_row("00:05", "73.60"), paper_row("00:12", "20.00")})}});
  call(*sup, "reentry.list", Json{{"state", "entered"}});
  call(*aud, "reentry.approve", Json{{"batch_id", paper_b.value("batch_id", 2)}, {"note", "checked against the paper"}});
  call(*aud, "reentry.get", Json{{"batch_id", paper_b.value("batch_id", 2)}});

  // The close-out of the shift.
  call(*c, "closeout.preview");
  const Json co = call(*c, "closeout.record", Json{{"request_id", "CO-W01-0001"}});
  const std::string co_id = co.value("closeout_id", "1");
  call(*c, "closeout.get", Json{{"closeout_id", co_id}});
  call(*c, "closeout.list", Json{{"limit", 1}});
  call(*c, "closeout.sheet", Json{{"closeout_id", co_id}});

  auto adm_c = traced(s.connect(), "admin");
  call(*adm_c, "session.login", Json{{"operator", Stack::admin.name}, {"password", Stack::admin.password}, {"window", "W02"}});
  call(*adm_c, "operator.add", Json{{"operator", "c009"}, {"role", "cashier"}, {"password", "Initial-Pass-9"}});
  call(*adm_c, "operator.list");
  call(*adm_c, "session.list");
  call(*adm_c, "operator.reset_password", Json{{"operator", "c009"}, {"password", "Second-Pass-9"}});
  call(*adm_c, "operator.unlock", Json{{"operator", "c009"}});
  call(*adm_c, "operator.set_role", Json{{"operator", "c009"}, {"role", "supervisor"}});
  call(*adm_c, "operator.disable", Json{{"operator", "c009"}});
  call(*adm_c, "operator.enable", Json{{"operator", "c009"}});

  // A new operator's first login, its password changed; the shift's end.
  auto fresh = traced(s.connect(), "new-operator");
  call(*fresh, "session.login", Json{{"operator", "c009"}, {"password", "Second-Pass-9"}, {"window", "W02"}});
  call(*fresh, "session.change_password", Json{{"password", "Second-Pass-9"}, {"new_password", "Own-Pass-2026"}});
  call(*aud, "audit.list", Json{{"limit", 2}});
  call(*c, "session.logout");

  for (int i = 0; i < settle::cashier::method_count; ++i) {
    const std::string name(settle::cashier::method_name(static_cast<settle::cashier::Method>(i)));
    CHECK_MESSAGE(called.count(name) == 1, name << " is not called");
  }
  out.flush();
  MESSAGE("transcript: " << out_path);

  // The reference's examples still hold: each example request was made here
  // with the same params, and answered alike (a result with the same fields,
  // or an error with the same reason).
  std::ifstream doc(std::string(SETTLE_SOURCE_DIR) + "/docs/cashier-api.md");
  REQUIRE(doc.good());
  std::vector<std::string> block;
  bool in_block = false;
  int compared = 0;
  for (std::string line; std::getline(doc, line);) {
    if (line.rfind("```", 0) == 0) {
      if (in_block && block.size() >= 2) {
        const Json req = Json::parse(block[0], nullptr, false);
        const Json ans = Json::parse(block[1], nullptr, false);
        if (req.is_object() && req.contains("method") && ans.is_object() && ans.contains("id")) {
          INFO("example: " << block[0]);
          const Json key{{"method", req["method"]}, {"params", req.value("params", Json::object())}};
          const Json* live = nullptr;
          for (const auto& [k, a] : exchanges)
            if (k == key) live = &a;
          CHECK_MESSAGE(live != nullptr, "this run made no such request");
          if (live == nullptr) continue;
          ++compared;
          if (ans.contains("error")) {
            CHECK((*live).contains("error"));
            CHECK((*live)["error"]["data"]["reason"] == ans["error"]["data"]["reason"]);
          } else {
            REQUIRE((*live).contains("result"));
            std::set<std::string> doc_keys, live_keys;
            for (const auto& [k, v] : ans["result"].items()) doc_keys.insert(k);
            for (const auto& [k, v] : (*live)["result"].items()) live_keys.insert(k);
            CHECK(doc_keys == live_keys);
          }
        }
      }
      in_block = line == "```json";
      block.clear();
      continue;
    }
    if (in_block && !line.empty()) block.push_back(line);
  }
  CHECK(compared >= settle::cashier::method_count);
}
