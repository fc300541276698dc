// settlectl: the command-line tool of the insurance office (trial
// calculations), the cashier (one window transaction per command over the
// daemon's socket) and the operator (operators on the ledger). Thin: parse
// options, call the library, print.
#include "tools/common/exit_codes.hpp"
#include "tools/common/version.hpp"
#include "tools/settlectl/backup_cmds.hpp"
#include "tools/settlectl/cashier_cmds.hpp"
#include "tools/settlectl/inpatient.hpp"
#include "tools/settlectl/ledger_cmds.hpp"
#include "tools/settlectl/session.hpp"
#include "tools/settlectl/office_cmds.hpp"
#include "tools/settlectl/outage_cmds.hpp"
#include "tools/settlectl/notice_cmds.hpp"
#include "tools/settlectl/reentry_cmds.hpp"
#include "tools/settlectl/storage_cmds.hpp"
#include "tools/settlectl/trial.hpp"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

int main(int argc, char** argv) {
  CLI::App app{"settlectl — trial calculations, and the settlement daemon's command-line client"};
  app.set_version_flag("--version", std::string("settlectl ") + settle::version);
  app.require_subcommand(1);

  settle::tools::TrialOptions trial;
  auto* split = app.add_subcommand("split", "trial calculation of a settlement: {person, lines, options} JSON on stdin");
  split->add_option("--policy", trial.policy_path, "policy file (TOML)")->required();
  split->add_flag("--json", trial.json, "print JSON for programs");

  // Cashier commands over the socket.
  settle::tools::ClientOptions client;
  if (const char* s = std::getenv("SETTLED_SOCKET")) client.socket = s;
  settle::tools::CashierCommand cmd;
  const auto client_options = [&](CLI::App* sub, bool login) {
    sub->add_option("--socket", client.socket, "the daemon's socket (env SETTLED_SOCKET)");
    sub->add_flag("--json", client.json, "print the daemon's JSON answer");
    if (!login) return;
    sub->add_option("--operator", client.operator_name, "operator name")->required();
    sub->add_option("--window", client.window, "payment window (its card reader)")->required();
    sub->add_option("--password-file", client.password_file, "file whose first line is the password (default: stdin)");
  };
  const auto card_options = [&](CLI::App* sub) {
    sub->add_option("--card-timeout-ms", client.card_timeout_ms, "wait this long for the card to be inserted");
  };
  auto* status = app.add_subcommand("status", "the engine's status: insurer line, queues, readers");
  client_options(status, false);
  auto* read_card = app.add_subcommand("read-card", "read the card at the window");
  client_options(read_card, true);
  card_options(read_card);
  auto* verify = app.add_subcommand("verify-pin", "read the card and verify its PIN (typed, or one line on stdin with --pin-stdin)");
  client_options(verify, true);
  card_options(verify);
  verify->add_flag("--pin-stdin", client.pin_stdin, "read the PIN from stdin after the password");
  auto* person = app.add_subcommand("person", "who the card's holder is: insurance type, flags, balance");
  client_options(person, true);
  card_options(person);
  auto* history = app.add_subcommand("history", "the personal account's recent transactions");
  client_options(history, true);
  card_options(history);
  for (const char* name : {"preview", "commit"}) {
    auto* sub = app.add_subcommand(name, std::string(name) == "commit" ? "settle the charge at the window"
                                                                      : "the split of a charge, nothing settled");
    client_options(sub, true);
    card_options(sub);
    sub->add_option("--lines", cmd.lines_file, "charge lines JSON ([{code, name, class, amount}] or {\"lines\": [...]})")
        ->required();
    sub->add_flag("--no-account", cmd.no_account, "settle without the personal account");
    sub->add_flag("--pin-stdin", client.pin_stdin, "verify the PIN first (one line on stdin after the password)");
    if (std::string(name) == "commit") sub->add_option("--request-id", cmd.request_id, "unique id of this charge")->required();
  }
  // refund: with --policy, the trial calculation ({original, refunds, request}
  // JSON on stdin); with --setl-id, a refund at the window over the socket.
  auto* refund = app.add_subcommand(
      "refund", "refund a settlement at the window (--setl-id; original card, no PIN), or with --policy the trial "
                "calculation of a refund ({original, refunds, request} JSON on stdin)");
  refund->add_option("--policy", trial.policy_path, "trial calculation: the policy file (TOML)");
  refund->add_option("--socket", client.socket, "the daemon's socket (env SETTLED_SOCKET)");
  refund->add_flag("--json", client.json, "print JSON for programs");
  refund->add_option("--operator", client.operator_name, "operator name");
  refund->add_option("--window", client.window, "payment window (its card reader)");
  refund->add_option("--password-file", client.password_file, "file whose first line is the password (default: stdin)");
  card_options(refund);
  refund->add_option("--setl-id", cmd.setl_id, "the settlement");
  refund->add_option("--request-id", cmd.request_id, "unique id of this refund");
  refund->add_option("--lines", cmd.lines_file, "lines to refund: [{code, amount}] (default: everything left)");
  auto* resettle = app.add_subcommand("resettle", "undo a settlement paid without the account and settle it again with it");
  client_options(resettle, true);
  card_options(resettle);
  resettle->add_option("--setl-id", cmd.setl_id, "the settlement")->required();
  resettle->add_option("--request-id", cmd.request_id, "unique id of this re-settlement")->required();
  resettle->add_flag("--pin-stdin", client.pin_stdin, "read the PIN from stdin after the password");
  auto* get = app.add_subcommand("get", "one settlement with its lines, refunds and history");
  client_options(get, true);
  get->add_option("setl_id", cmd.setl_id, "the settlement")->required();
  auto* sheet = app.add_subcommand("sheet", "the patient's settlement sheet (结算单) or refund sheet, HTML to print");
  client_options(sheet, true);
  sheet->add_option("setl_id", cmd.setl_id, "the settlement")->required();
  sheet->add_option("--refund-id", cmd.refund_id, "the sheet of this refund of it");
  sheet->add_option("--paper", cmd.paper, "A5 (default) or A4");
  sheet->add_option("--out", cmd.out_file, "the HTML file to write (default: stdout)");
  auto* list = app.add_subcommand("list", "settlements of a period (default: today)");
  client_options(list, true);
  list->add_option("--from", cmd.from, "date or ISO 8601 time");
  list->add_option("--to", cmd.to, "date or ISO 8601 time");
  list->add_option("--state", cmd.state, "settled, offline_pending, refunded, ...");
  list->add_option("--limit", cmd.limit, "rows shown (default 200; 0 = all); the totals are the whole period's")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{100000000}));
  list->add_flag("--csv", cmd.csv, "every row as CSV for a spreadsheet (UTF-8)");

  // Inpatient stays (住院): settlectl inpatient ACTION.
  settle::tools::InpatientCommand ip;
  std::int64_t ip_limit = 0;
  auto* inpatient = app.add_subcommand("inpatient", "inpatient stays (住院): admit, charge lines, discharge");
  inpatient->require_subcommand(1);
  const auto ip_sub = [&](const char* action, const char* help) {
    auto* sub = inpatient->add_subcommand(action, help);
    client_options(sub, true);
    if (settle::tools::inpatient_needs_card(action)) card_options(sub);
    sub->callback([&ip, action] { ip.action = action; });
    return sub;
  };
  const auto request_id = [&](CLI::App* sub, const char* what) {
    sub->add_option("--request-id", ip.request_id, std::string("unique id of this ") + what)->required();
  };
  const auto adm_id = [&](CLI::App* sub) { sub->add_option("--adm-id", ip.adm_id, "the stay (adm_id)")->required(); };
  auto* ip_admit = ip_sub("admit", "admit the patient whose card is at the window");
  request_id(ip_admit, "admission");
  ip_admit->add_option("--dept", ip.dept, "department code")->required();
  ip_admit->add_option("--dept-name", ip.dept_name, "department name");
  ip_admit->add_option("--diagnosis", ip.diagnosis, "diagnosis code")->required();
  ip_admit->add_option("--diagnosis-name", ip.diagnosis_name, "diagnosis name");
  ip_admit->add_option("--admit-time", ip.admit_time, "ISO 8601 date-time with offset (default: now)");
  auto* ip_add = ip_sub("add-lines", "add a batch of charge lines to a stay");
  request_id(ip_add, "batch");
  adm_id(ip_add);
  ip_add->add_option("--lines", ip.lines_file,
                     "JSON [{feedetl_sn, code, name, class, amount, selfpay_ratio?}] or {\"lines\": [...]}; - = stdin "
                     "(then the password from --password-file)")
      ->required();
  auto* ip_cancel = ip_sub("cancel-lines", "cancel charge lines of a stay by their numbers");
  request_id(ip_cancel, "cancellation");
  adm_id(ip_cancel);
  ip_cancel->add_option("--feedetl-sn", ip.feedetl_sn, "a line's number (repeat for more)")->required();
  auto* ip_preview = ip_sub("preview", "the split of the stay's live lines, nothing settled");
  adm_id(ip_preview);
  ip_preview->add_flag("--no-account", ip.no_account, "without the personal account");
  auto* ip_discharge = ip_sub("discharge", "settle the stay at discharge (the patient's card at the window)");
  request_id(ip_discharge, "discharge");
  adm_id(ip_discharge);
  ip_discharge->add_flag("--no-account", ip.no_account, "settle without the personal account");
  ip_discharge->add_option("--discharge-time", ip.discharge_time, "ISO 8601 date-time with offset (default: now)");
  ip_discharge->add_flag("--pin-stdin", client.pin_stdin, "verify the PIN first (one line on stdin after the password)");
  auto* ip_undo_discharge = ip_sub("undo-discharge", "undo the discharge settlement; the stay is open again (online)");
  request_id(ip_undo_discharge, "undo");
  adm_id(ip_undo_discharge);
  auto* ip_undo_admit = ip_sub("undo-admit", "undo an admission without live lines or settlement");
  request_id(ip_undo_admit, "undo");
  adm_id(ip_undo_admit);
  auto* ip_get = ip_sub("get", "one stay with its charge lines");
  adm_id(ip_get);
  ip_get->add_option("--cursor", ip.cursor, "the page of lines to start at (next_cursor of the previous one)");
  auto* ip_get_limit = ip_get->add_option("--limit", ip_limit, "lines per page (default 100)");
  ip_get->add_flag("--all", ip.all, "every line: follow next_cursor to the end");
  auto* ip_list = ip_sub("list", "stays, every page");
  ip_list->add_option("--state", ip.state, "admitted, discharged, undone or admission_rejected");
  ip_list->add_option("--dept", ip.dept, "department code");
  ip_list->add_option("--from", ip.from, "date or ISO 8601 date-time");
  ip_list->add_option("--to", ip.to, "date or ISO 8601 date-time");

  // Operators on the ledger.
  settle::tools::OperatorCommand op;
  auto* redlist = app.add_subcommand("redlist", "the red list (红名单) of offline settlement");
  redlist->require_subcommand(1);
  auto* redlist_sync = redlist->add_subcommand("sync", "download the insurer's red list now (supervisor), progress on stderr");
  client_options(redlist_sync, true);
  redlist_sync->add_flag("--full", cmd.full, "the whole snapshot instead of the changes since the current version");
  auto* uploads = app.add_subcommand("uploads", "offline settlements and reversals waiting for the insurer");
  uploads->require_subcommand(1);
  auto* uploads_flush = uploads->add_subcommand(
      "flush", "forward queued reversals and offline settlements now (supervisor), progress on stderr; exit 1 if some are left");
  client_options(uploads_flush, true);
  auto* parked = app.add_subcommand("parked", "reversals, offline uploads and stays' items the insurer refused too often (supervisor)");
  parked->require_subcommand(1);
  auto* parked_list = parked->add_subcommand("list", "list the parked items with the insurer's reason");
  client_options(parked_list, true);
  auto* parked_retry = parked->add_subcommand("retry", "send a parked item again (its refusals counted from zero)");
  client_options(parked_retry, true);
  parked_retry->add_option("--item", cmd.item_id, "the parked item (settlectl parked list)")->required();
  parked_retry->add_flag("--stay", cmd.stay_queue, "the item is a stay's (queue \"stay\" in the list)");
  auto* parked_resolve =
      parked->add_subcommand("resolve", "close a parked item the insurance office settled another way");
  client_options(parked_resolve, true);
  parked_resolve->add_option("--item", cmd.item_id, "the parked item (settlectl parked list)")->required();
  parked_resolve->add_flag("--stay", cmd.stay_queue, "the item is a stay's (queue \"stay\" in the list)");
  parked_resolve->add_option("--note", cmd.note, "what was done instead (kept in the item's history)")->required();
  auto* oper = app.add_subcommand(
      "operator", "manage operators: over the socket as an administrator (settled running), or with --ledger on the "
                  "ledger file (settled stopped)");
  oper->require_subcommand(1);
  const std::vector<std::pair<std::string, std::string>> oper_actions{
      {"add", "add an operator with an initial password (changed at the first login)"},
      {"reset", "give an operator a new initial password and unlock it"},
      {"unlock", "clear an operator's locks after failed logins"},
      {"disable", "stop an operator from logging in (its sessions end)"},
      {"enable", "let a disabled operator log in again"},
      {"role", "give an operator another role (its sessions end)"},
      {"list", "operators, their roles, state and locks"}};
  for (const auto& [action, help] : oper_actions) {
    auto* sub = oper->add_subcommand(action, help);
    sub->add_option("--ledger", op.ledger, "work on the ledger file (<data_dir>/ledger.db) while settled is stopped");
    sub->add_option("--key-file", op.key_file,
                    "with --ledger: the storage key of an encrypted ledger (default: the ledger-key credential)");
    sub->add_option("--socket", client.socket, "the daemon's socket (env SETTLED_SOCKET)");
    sub->add_flag("--json", client.json, "print the daemon's JSON answer");
    sub->add_option("--operator", client.operator_name, "the administrator logging in (over the socket)");
    sub->add_option("--window", client.window, "the administrator's window (over the socket)");
    sub->add_option("--password-file", client.password_file,
                    "the administrator's password, first line (default: stdin)");
    if (action != "list") sub->add_option("--name", op.name, "the operator acted on")->required();
    if (action == "add" || action == "role")
      sub->add_option("--role", op.role, "cashier, supervisor, auditor or admin")->required(action == "role");
    if (action == "add" || action == "reset")
      sub->add_option("--initial-password-file", op.initial_password_file,
                      "the operator's initial password, first line (default: stdin, after the administrator's)");
    sub->callback([&op, a = action] { op.action = a; });
  }
  // Encryption at rest of the ledger and the red list (settled stopped).
  settle::tools::StorageCommand sc;
  auto* ledger_cmd = app.add_subcommand("ledger", "the ledger's and the red list's files: encryption at rest (settled "
                                                  "stopped), the hash chain's verify and key");
  ledger_cmd->require_subcommand(1);
  const std::vector<std::pair<std::string, std::string>> storage_actions{
      {"encrypt", "encrypt the plain ledger, its pre-migration copies and the red list with the storage key"},
      {"rekey", "re-encrypt the ledger and the red list from the storage key to --new-key"},
      {"status", "whether each file is plain, encrypted with this key, or with another"}};
  for (const auto& [action, help] : storage_actions) {
    auto* sub = ledger_cmd->add_subcommand(action, help);
    sub->add_option("-c,--config", sc.config, "the daemon's config: the files and [storage] key_file");
    sub->add_option("--ledger", sc.ledger, "the ledger file (default: the config's; then the red list is left alone)");
    sub->add_option("--redlist", sc.redlist, "the red-list file (default: the config's)");
    sub->add_option("--key-file", sc.key_file,
                    "the storage key (default: [storage] key_file, else $CREDENTIALS_DIRECTORY/ledger-key)");
    if (action == "rekey") sub->add_option("--new-key", sc.new_key_file, "the new key file")->required();
    sub->callback([&sc, a = action] { sc.action = a; });
  }
  settle::tools::PasswordCommand pw_cmd;
  auto* password = app.add_subcommand("password", "change your own password (also the initial one given to you)");
  client_options(password, true);
  password->add_option("--new-password-file", pw_cmd.new_password_file,
                       "the new password, first line (default: stdin, after the current one)");
  settle::tools::AuditCommand audit_cmd;
  auto* audit = app.add_subcommand("audit", "the audit trail (auditor or administrator): a table, --csv or --json");
  client_options(audit, true);
  audit->add_option("--from", audit_cmd.from, "date or ISO 8601 date-time (inclusive)");
  audit->add_option("--to", audit_cmd.to, "date (the whole day) or ISO 8601 date-time (exclusive)");
  audit->add_option("--by", audit_cmd.by, "only this operator's actions");
  audit->add_option("--action", audit_cmd.action, "only this action (settle.commit, card.verify_pin, login_failed, ...)");
  audit->add_option("--limit", audit_cmd.limit, "at most this many entries, newest first (0 = all)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{100000000}));
  audit->add_flag("--csv", audit_cmd.csv, "CSV for a spreadsheet (UTF-8)");
  settle::tools::CloseoutCommand co;
  auto* closeout = app.add_subcommand("closeout", "the cashier's close-out (收费员日结) of the shift at this window");
  closeout->require_subcommand(1);
  const std::vector<std::pair<std::string, std::string>> co_actions{
      {"preview", "what the close-out would hold now (or --date: the day's report)"},
      {"record", "close the shift: record and sign off its figures (they never change)"},
      {"get", "a recorded close-out with every item"},
      {"list", "recorded close-outs (a cashier sees its own)"},
      {"sheet", "the printable close-out (HTML), recorded (--id) or the preview"}};
  for (const auto& [action, help] : co_actions) {
    auto* sub = closeout->add_subcommand(action, help);
    client_options(sub, true);
    if (action == "preview") sub->add_option("--date", co.date, "a day's report (YYYY-MM-DD), closed or not");
    if (action == "record") sub->add_option("--request-id", co.request_id, "unique id of this close-out")->required();
    if (action == "get") sub->add_option("--id", co.id, "the close-out")->required();
    if (action == "sheet") {
      sub->add_option("--id", co.id, "the close-out (default: the preview of the shift)");
      sub->add_option("--paper", co.paper, "A4 (default) or A5");
      sub->add_option("--out", co.out_file, "the HTML file to write (default: stdout)");
    }
    if (action == "list") {
      sub->add_option("--from", co.from, "recorded from (date or ISO 8601 time)");
      sub->add_option("--to", co.to, "recorded until (a date: the whole day)");
      sub->add_option("--by", co.by, "one operator's");
      sub->add_option("--for-window", co.window, "one window's");
    }
    if (action != "sheet") sub->add_flag("--csv", co.csv, "CSV for a spreadsheet (the items; the list)");
    sub->callback([&co, a = action] { co.action = a; });
  }
  settle::tools::CorrectionCommand corr;
  auto* correction = app.add_subcommand("correction", "corrections (更正) with two-person review (supervisor, auditor)");
  correction->require_subcommand(1);
  auto* corr_record = correction->add_subcommand("record", "record a correction (it changes nothing until approved)");
  client_options(corr_record, true);
  corr_record->add_option("--target", corr.target, "settlement (default), outbox or stay");
  corr_record->add_option("--setl-id", corr.setl_id, "the settlement (target settlement)");
  corr_record->add_option("--item", corr.item_id, "the parked item (target outbox or stay)");
  corr_record->add_option("--action", corr.kind, "amounts or undo (a settlement), resolve (a parked item)")->required();
  corr_record->add_option("--fund", corr.fund, "amounts: the fund's part to count");
  corr_record->add_option("--account", corr.account, "amounts: the personal account's part to count");
  corr_record->add_option("--cash", corr.cash, "amounts: the cash part to count");
  corr_record->add_option("--reason", corr.reason, "why (kept with the correction and in the audit trail)")->required();
  corr_record->callback([&corr] { corr.action = "record"; });
  for (const char* action : {"approve", "refuse"}) {
    auto* sub = correction->add_subcommand(action, std::string(action) == "approve"
                                                       ? "approve another person's correction (it is applied now)"
                                                       : "refuse another person's correction");
    client_options(sub, true);
    sub->add_option("--id", corr.id, "the correction")->required();
    sub->add_option("--note", corr.note, "a note kept with the decision");
    sub->callback([&corr, action] { corr.action = action; });
  }
  auto* corr_list = correction->add_subcommand("list", "corrections, newest first");
  client_options(corr_list, true);
  corr_list->add_option("--state", corr.state, "recorded, approved or refused");
  corr_list->callback([&corr] { corr.action = "list"; });
  auto* work = app.add_subcommand("work", "the insurance office's work list: parked items, rejected offline "
                                          "settlements, corrections waiting for approval");
  client_options(work, true);
  settle::tools::ReentryCommand reentry_cmd;
  auto* reentry = app.add_subcommand(
      "reentry", "the paper emergency ledger (离线应急台账) entered after settled was down: import a CSV, list, show, "
                 "approve or refuse a batch (a second person decides; docs/reentry.md)");
  reentry->require_subcommand(1);
  for (const char* a : {"import", "list", "show", "approve", "refuse"}) {
    auto* sub = reentry->add_subcommand(
        a, std::string_view(a) == "import"    ? "enter a CSV file's settlements as one batch (all or nothing)"
           : std::string_view(a) == "list"    ? "batches, newest first"
           : std::string_view(a) == "show"    ? "one batch with its settlements"
           : std::string_view(a) == "approve" ? "approve a batch (not the person who entered it): its settlements are stored and uploaded"
                                              : "refuse a batch with a note: nothing is stored");
    client_options(sub, true);
    if (std::string_view(a) == "import") {
      sub->add_option("file", reentry_cmd.file, "the CSV file (UTF-8; - for stdin)")->required();
      sub->add_option("--batch-ref", reentry_cmd.batch_ref, "the paper ledger's reference (unique; default: operator and time)");
    }
    if (std::string_view(a) == "list") {
      sub->add_option("--state", reentry_cmd.state, "entered, approved or refused");
      sub->add_option("--limit", reentry_cmd.limit, "at most this many (1-1000)");
    }
    if (std::string_view(a) == "show" || std::string_view(a) == "approve" || std::string_view(a) == "refuse")
      sub->add_option("--id", reentry_cmd.id, "the batch")->required();
    if (std::string_view(a) == "approve") sub->add_option("--note", reentry_cmd.note, "a note");
    if (std::string_view(a) == "refuse") sub->add_option("--note", reentry_cmd.note, "why it is refused")->required();
    sub->callback([&reentry_cmd, a] { reentry_cmd.action = a; });
  }

  settle::tools::OutageCommand outage_cmd;
  auto* outage = app.add_subcommand("outage", "outage records (停机/断网记录): the line offline, starts after a crash, "
                                              "drills; who was told (supervisor, auditor)");
  outage->require_subcommand(1);
  for (const char* action : {"list", "show", "note", "record", "export"}) {
    const std::string a = action;
    auto* sub = outage->add_subcommand(
        a, a == "list"     ? "outages overlapping a period, newest first"
           : a == "show"   ? "one outage: its period, cause, offline work, uploads, reversals, adjustments, notes"
           : a == "note"   ? "record who was told (or a note) about an outage"
           : a == "record" ? "record an outage only people saw (the hospital's network, a reader, a drill), once over"
                           : "a period's outages with their figures and who was told, for the insurance centre (CSV)");
    client_options(sub, true);
    if (a == "list" || a == "export") {
      sub->add_option("--from", outage_cmd.from, "from (date or ISO 8601 time)");
      sub->add_option("--to", outage_cmd.to, "until (a date: the whole day)");
      sub->add_option("--kind", outage_cmd.kind, "line, crash, drill, storage, reader or network");
    }
    if (a == "list") {
      sub->add_option("--limit", outage_cmd.limit, "at most this many, newest first");
      sub->add_flag("--csv", outage_cmd.csv, "CSV for a spreadsheet (UTF-8)");
    }
    if (a == "show" || a == "note") sub->add_option("--id", outage_cmd.id, "the outage")->required();
    if (a == "record") {
      sub->add_option("--kind", outage_cmd.kind, "network, reader, drill, storage or line")->required();
      sub->add_option("--cause", outage_cmd.cause, "what happened, as known")->required();
      sub->add_option("--from", outage_cmd.from, "when it started (2026-12-04T09:10:00+08:00)")->required();
      sub->add_option("--to", outage_cmd.to, "when it ended")->required();
      sub->add_option("--note", outage_cmd.detail, "what was done");
    }
    if (a == "note") {
      sub->add_option("--kind", outage_cmd.note_kind, "told (default) or note");
      sub->add_option("--target", outage_cmd.target, "who was told (信息科, 首信, 医保中心, 全院各科室) or what")->required();
      sub->add_option("--detail", outage_cmd.detail, "how and what was said");
    }
    sub->callback([&outage_cmd, a] { outage_cmd.action = a; });
  }
  settle::tools::NoticeCommand notice_cmd;
  auto* notice = app.add_subcommand("notice", "the patient notices (患者告知) windows show and print while the insurer "
                                              "line is offline (docs/patient-notices.md)");
  notice->require_subcommand(1);
  auto* notice_show = notice->add_subcommand("show", "the notices that apply now (or to --state, --reason, --id), "
                                                     "as text or as a page to print (--html)");
  client_options(notice_show, true);
  notice_show->add_option("--state", notice_cmd.state, "offline, online or current (default: the line's state now)")
      ->check(CLI::IsMember({"offline", "online", "current"}));
  notice_show->add_option("--reason", notice_cmd.reason, "the notices for a refusal, e.g. OFFLINE_REFUND_FORBIDDEN");
  notice_show->add_option("--id", notice_cmd.id, "one notice by its id");
  notice_show->add_option("--html", notice_cmd.html_file, "write the printable page to FILE (- for stdout)");
  notice_show->add_option("--paper", notice_cmd.paper, "A4 (default) or A5, with --html")
      ->check(CLI::IsMember({"A4", "A5"}));

  // The ledger file itself (IT and the auditor): no socket, no login.
  settle::tools::LedgerVerifyCommand lv;
  auto* ledger_verify = ledger_cmd->add_subcommand(
      "verify", "walk the hash chain and the signed checkpoints; name the first row edited, deleted, inserted or "
                "reordered (exit 1 when broken)");
  ledger_verify->add_option("--ledger", lv.ledger, "the ledger file (it may be in use by settled)")->required();
  ledger_verify->add_option("--checkpoint-key", lv.key, "the checkpoints' key, public or private PEM (default: "
                                                        "checkpoint.key beside the ledger)");
  ledger_verify->add_option("--key-file", lv.storage_key,
                            "the storage key of an encrypted ledger (default: $CREDENTIALS_DIRECTORY/ledger-key)");
  ledger_verify->add_flag("--json", lv.json, "print JSON for programs");
  settle::tools::LedgerKeygenCommand lk;
  auto* ledger_keygen = ledger_cmd->add_subcommand("keygen", "make a new Ed25519 checkpoint key");
  ledger_keygen->add_option("--out", lk.out, "the private key file to create (mode 0600)")->required();
  ledger_keygen->add_option("--public-out", lk.public_out, "also write its public key here");

  // Backups of the ledger and the red list (settled running), and their restore (settled stopped).
  settle::tools::BackupCommand bk;
  auto* backup = app.add_subcommand(
      "backup", "copy the ledger and the red list while settled runs (encrypted as they are), check the copies "
                "(integrity, hash chain) and write manifest.json");
  auto* restore = app.add_subcommand(
      "restore", "put a backup in place of the ledger and the red list (settled stopped); the files replaced are "
                 "kept aside");
  for (CLI::App* sub : {backup, restore}) {
    const bool is_backup = sub == backup;
    sub->add_option(is_backup ? "--to" : "--from", bk.dir,
                    is_backup ? "the backup directory to create (refused when it holds a backup already)"
                              : "the backup directory (written by settlectl backup)")
        ->required();
    sub->add_option("-c,--config", bk.config, "the daemon's config: the files, the socket and [storage] key_file");
    sub->add_option("--ledger", bk.ledger, "the ledger file (default: the config's; then the red list is left out)");
    sub->add_option("--redlist", bk.redlist, "the red-list file (default: the config's)");
    sub->add_option("--key-file", bk.key_file,
                    "the storage key (default: [storage] key_file, else $CREDENTIALS_DIRECTORY/ledger-key)");
    sub->add_option("--checkpoint-key", bk.checkpoint_key,
                    "the checkpoints' key for the chain's verify (default: checkpoint.key beside the ledger)");
    if (!is_backup) sub->add_option("--socket", bk.socket, "the daemon's socket, to see it is stopped (default: the config's)");
    sub->add_flag("--json", bk.json, "print JSON for programs");
    sub->callback([&bk, is_backup] { bk.action = is_backup ? "backup" : "restore"; });
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; a usage error exits 2, as JSON when --json was asked for.
    bool json = false;
    for (int i = 1; i < argc; ++i) json = json || std::string(argv[i]) == "--json";
    if (json && e.get_exit_code() != 0)
      return settle::tools::report_failure({settle::exit_code::usage, e.what(), "USAGE", ""}, true, std::cout, std::cerr);
    return app.exit(e) == 0 ? settle::exit_code::ok : settle::exit_code::usage;
  }
  if (split->parsed()) return settle::tools::run_split(trial, std::cin, std::cout, std::cerr);
  if (refund->parsed() && !trial.policy_path.empty()) {
    trial.json = client.json;
    return settle::tools::run_refund(trial, std::cin, std::cout, std::cerr);
  }
  if (refund->parsed() && (cmd.setl_id.empty() || cmd.request_id.empty() || client.operator_name.empty() ||
                           client.window.empty())) {
    return settle::tools::report_failure(
        {settle::exit_code::usage,
         "settlectl refund: give --policy FILE for a trial calculation, or --operator, --window, --setl-id and "
         "--request-id for a refund at the window",
         "USAGE", cmd.setl_id.empty() ? "--setl-id" : "--request-id"},
        client.json, std::cout, std::cerr);
  }
  if (backup->parsed()) return settle::tools::run_backup(bk, std::cout, std::cerr);
  if (restore->parsed()) return settle::tools::run_restore(bk, std::cout, std::cerr);
  if (ledger_verify->parsed()) return settle::tools::run_ledger_verify(lv, std::cout, std::cerr);
  if (ledger_keygen->parsed()) return settle::tools::run_ledger_keygen(lk, std::cout, std::cerr);
  if (oper->parsed()) return settle::tools::run_operator(client, op, std::cout, std::cerr);
  if (ledger_cmd->parsed() && !ledger_verify->parsed() && !ledger_keygen->parsed())
    return settle::tools::run_storage(sc, std::cout, std::cerr);
  if (password->parsed()) return settle::tools::run_password(client, pw_cmd, std::cout, std::cerr);
  if (audit->parsed()) return settle::tools::run_audit(client, audit_cmd, std::cout, std::cerr);
  if (closeout->parsed()) return settle::tools::run_closeout(client, co, std::cout, std::cerr);
  if (correction->parsed()) return settle::tools::run_correction(client, corr, std::cout, std::cerr);
  if (work->parsed()) return settle::tools::run_work(client, std::cout, std::cerr);
  if (outage->parsed()) return settle::tools::run_outage(client, outage_cmd, std::cout, std::cerr);
  if (notice->parsed()) return settle::tools::run_notice(client, notice_cmd, std::cout, std::cerr);
  if (reentry->parsed()) return settle::tools::run_reentry(client, reentry_cmd, std::cout, std::cerr);
  if (inpatient->parsed()) {
    if (ip_get_limit->count() > 0) ip.limit = ip_limit;
    return settle::tools::run_inpatient(client, ip, std::cout, std::cerr);
  }
  for (CLI::App* sub : app.get_subcommands()) {
    cmd.name = sub == redlist   ? "redlist-sync"
               : sub == uploads ? "uploads-flush"
               : sub == parked  ? "parked-" + sub->get_subcommands().front()->get_name()
                                : sub->get_name();
    return settle::tools::run_cashier(client, cmd, std::cout, std::cerr);
  }
  return settle::exit_code::usage;
}
