// Typed input/output of every insurer transaction (insurer-protocol.md,
// "Transactions") with their JSON codecs. Field names are the national
// interface's; where the spec is silent the lists are decided in
// docs/insurer-protocol.md. Amounts are exact (written "12.30", read as number or
// string); a decoded value is complete and consistent, or an error naming the
// field at fault. Both the hospital and the simulator use these codecs.
#pragma once

#include "engine/money.hpp"
#include "engine/result.hpp"
#include "engine/split.hpp"
#include "protocol/insurer/envelope.hpp"
#include "protocol/json.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace settle::insurer {

using json::Json;

// Bounds of lists on the wire.
inline constexpr std::size_t max_feedetail = 500;           // lines per 2204/2301 call
inline constexpr std::size_t max_offline_batch = 1000;      // records per 9302 call (docs/offline.md)
inline constexpr std::size_t max_page_size = 1000;          // rows per 3202/9304/9303 page
inline constexpr std::size_t max_flags = 8;

// Certificate types (mdtrt_cert_type) of 1101, the visit and the settle calls.
inline constexpr std::string_view cert_type_ec = "01";     // 医保电子凭证 (the ec_token of a 9401 decode)
inline constexpr std::string_view cert_type_id_no = "02";  // 居民身份证 (ID number)
inline constexpr std::string_view cert_type_card = "03";   // 社会保障卡 (card number + card_sn)
// psn_cert_type of an ID number: "01" 居民身份证.
inline constexpr std::string_view psn_cert_type_id_card = "01";
// Areas (医保区划: mdtrtarea_admvs, insuplc_admdvs, setl_optins) are 6 digits.
inline constexpr std::size_t admdvs_len = 6;

// med_type of a visit: "11" outpatient (门诊; emergency and others also count as
// outpatient), "21" inpatient (住院).
inline constexpr std::string_view med_type_outpatient = "11";
inline constexpr std::string_view med_type_inpatient = "21";

// ---- 9001 签到 sign-in ----
struct SignIn {
  static constexpr std::string_view infno = "9001";
  struct Input {
    std::string opter_no;
    std::string mac;
    std::string ip;
    Json encode() const;
    static Result<Input> decode(const Json& input);
    friend bool operator==(const Input&, const Input&) = default;
  };
  struct Output {
    std::string sign_no;
    std::string sign_time;  // "yyyy-MM-dd HH:mm:ss"
    Json encode() const;
    static Result<Output> decode(const Json& output);
    friend bool operator==(const Output&, const Output&) = default;
  };
};

// ---- 9002 签退 sign-out ----
struct SignOut {
  static constexpr std::string_view infno = "9002";
  struct Input {
    std::string sign_no;
    std::string opter_no;
    Json encode() const;
    static Result<Input> decode(const Json& input);
    friend bool operator==(const Input&, const Input&) = default;
  };
  struct Output {
    std::string sign_time;
    Json encode() const;
    static Result<Output> decode(const Json& output);
    friend bool operator==(const Output&, const Output&) = default;
  };
};

// ---- 1101 人员信息获取 person info ----
struct PersonInfo {
  static constexpr std::string_view infno = "1101";
  struct Input {
    std::string mdtrt_cert_type;  // "01" e-voucher, "02" ID number, "03" card (card_no + card_sn)
    std::string mdtrt_cert_no;    // the ec_token (9401), the ID number or the card number
    std::string card_sn;          // required with "03"; empty otherwise
    std::string psn_cert_type = "01";  // with "02": "01" 居民身份证 (the only one accepted)
    std::string certno;           // ID number (optional with "01" and "03")
    std::string psn_name;         // optional
    Json encode() const;
    static Result<Input> decode(const Json& input);
    friend bool operator==(const Input&, const Input&) = default;
  };
  struct BaseInfo {
    std::string psn_no;
    std::string psn_cert_type;
    std::string certno;
    std::string psn_name;
    std::string gend;  // "1" male, "2" female
    std::string brdy;  // "yyyy-MM-dd"
    friend bool operator==(const BaseInfo&, const BaseInfo&) = default;
  };
  struct InsuInfo {
    std::string insutype;       // "310", "390"
    Amount balc;                // personal account balance
    std::string psn_insu_stas;  // "1" insured normally
    std::string psn_type;       // "11" employee, "21" retired, "1501" resident ...
    PersonFlags flags;          // this project's status flags (by name on the wire)
    Amount deductible_used;     // this year's accumulators
    Amount fund_paid_ytd;
    std::string insuplc_admdvs{};  // 参保地医保区划: the insured area, 6 digits ("" when the insurer omits it)
    friend bool operator==(const InsuInfo&, const InsuInfo&) = default;
  };
  struct Output {
    BaseInfo baseinfo;
    std::vector<InsuInfo> insuinfo;  // at least one
    Json encode() const;
    static Result<Output> decode(const Json& output);
    friend bool operator==(const Output&, const Output&) = default;
  };
};

// ---- 2201 门诊挂号 outpatient registration / 2401 入院办理 admission ----
// The visit's facts (dept_code .. dise_name) are optional to the codec; the
// national profile requires dept_code and dise_codg of 2201 (the insurer
// refuses), 2401 always requires dise_codg. The person's insured area is the
// envelope's insuplc_admdvs, not a field here.
struct VisitOpen {
  std::string psn_no;
  std::string insutype;
  std::string mdtrt_cert_type;  // "01" / "02" / "03"
  std::string mdtrt_cert_no;
  std::string med_type;      // "11" outpatient, "21" inpatient
  std::string ipt_otp_no;    // the hospital's visit number (门诊号 / 住院号)
  std::string begntime;      // "yyyy-MM-dd HH:mm:ss"
  std::string dept_code;     // 科室编码
  std::string dept_name;
  std::string atddr_no{};      // 医师编码: the attending doctor's code
  std::string dr_name{};       // the doctor's name
  std::string dise_codg{};     // 诊断编码: the main diagnosis (ICD-10 code)
  std::string dise_name{};
  friend bool operator==(const VisitOpen&, const VisitOpen&) = default;
};
struct VisitOpened {
  std::string mdtrt_id;
  std::string psn_no;
  std::string ipt_otp_no;
  friend bool operator==(const VisitOpened&, const VisitOpened&) = default;
};
struct OutpatientRegister {
  static constexpr std::string_view infno = "2201";
  struct Input : VisitOpen {
    Json encode() const;
    static Result<Input> decode(const Json& input);
  };
  struct Output : VisitOpened {
    Json encode() const;
    static Result<Output> decode(const Json& output);
  };
};
struct Admission {
  static constexpr std::string_view infno = "2401";
  struct Input : VisitOpen {  // dise_codg (the admission diagnosis) required
    Json encode() const;
    static Result<Input> decode(const Json& input);
  };
  struct Output : VisitOpened {
    Json encode() const;
    static Result<Output> decode(const Json& output);
  };
};

// ---- 2204 / 2301 费用明细上传 charge lines ----
// chrgitm_lv: "01" class A (甲类), "02" class B (乙类), "03" class C (丙类/自费).
struct FeeDetail {
  std::string feedetl_sn;        // the line's number at the hospital, unique per mdtrt_id
  std::string mdtrt_id;
  std::string psn_no;
  std::string chrg_bchno;        // charge batch number
  std::string fee_ocur_time;     // "yyyy-MM-dd HH:mm:ss"
  std::string med_list_codg;     // the national catalogue code (the policy's item code)
  std::string medins_list_codg;  // the hospital's own code
  std::string medins_list_name;
  Amount det_item_fee_sumamt;    // the line total
  std::string cnt;               // quantity as exact decimal text ("2", "0.5")
  Amount pric;                   // unit price
  LineClass cls = LineClass::a;  // chrgitm_lv on the wire
  std::optional<Ratio> selfpay_prop;  // class B only
  friend bool operator==(const FeeDetail&, const FeeDetail&) = default;
};
// The engine's view of one line.
ChargeLine to_charge_line(const FeeDetail& d);

struct FeeResult {
  std::string feedetl_sn;
  Amount det_item_fee_sumamt;
  LineClass cls = LineClass::a;
  Ratio selfpay_prop;
  Amount fulamt_ownpay_amt;
  Amount preselfpay_amt;
  Amount inscp_scp_amt;  // fulamt + preselfpay + inscp == det_item_fee_sumamt
  friend bool operator==(const FeeResult&, const FeeResult&) = default;
};
struct FeeUploadInput {
  std::vector<FeeDetail> feedetail;  // 1..max_feedetail, one mdtrt_id, unique feedetl_sn
  Json encode() const;
  static Result<FeeUploadInput> decode(const Json& input);
  friend bool operator==(const FeeUploadInput&, const FeeUploadInput&) = default;
};
struct FeeUploadOutput {
  std::vector<FeeResult> result;
  Json encode() const;
  static Result<FeeUploadOutput> decode(const Json& output);
  friend bool operator==(const FeeUploadOutput&, const FeeUploadOutput&) = default;
};
struct OutpatientLines {
  static constexpr std::string_view infno = "2204";
  using Input = FeeUploadInput;
  using Output = FeeUploadOutput;
};
struct InpatientLines {
  static constexpr std::string_view infno = "2301";
  using Input = FeeUploadInput;
  using Output = FeeUploadOutput;
};

// ---- 2302 住院费用明细撤销 cancel inpatient lines ----
// The single value "0000" in feedetl_sn cancels every live line of the stay.
inline constexpr std::string_view feedetl_sn_all = "0000";
struct CancelLines {
  static constexpr std::string_view infno = "2302";
  struct Input {
    std::string mdtrt_id;
    std::string psn_no;
    std::vector<std::string> feedetl_sn;  // 1..max_feedetail, unique; or exactly {"0000"}
    Json encode() const;
    static Result<Input> decode(const Json& input);
    friend bool operator==(const Input&, const Input&) = default;
  };
  struct Output {
    std::string mdtrt_id;
    std::vector<std::string> cancelled;  // the lines cancelled (now or before) by this call
    Json encode() const;
    static Result<Output> decode(const Json& output);
    friend bool operator==(const Output&, const Output&) = default;
  };
};

// ---- 2402 出院办理 discharge ----
struct Discharge {
  static constexpr std::string_view infno = "2402";
  struct Input {
    std::string mdtrt_id;
    std::string psn_no;
    std::string insutype;
    std::string endtime;         // "yyyy-MM-dd HH:mm:ss"
    // dscg_way: 1 on medical advice (default), 2 transfer, 3 to community care, 4 against advice, 5 death, 9 other.
    std::string dscg_way = "1";
    Json encode() const;
    static Result<Input> decode(const Json& input);
    friend bool operator==(const Input&, const Input&) = default;
  };
  struct Output {
    std::string mdtrt_id;
    Json encode() const;
    static Result<Output> decode(const Json& output);
    friend bool operator==(const Output&, const Output&) = default;
  };
};

// ---- 2404 入院办理撤销 undo of an admission ----
struct UndoAdmission {
  static constexpr std::string_view infno = "2404";
  struct Input {
    std::string mdtrt_id;
    std::string psn_no;
    Json encode() const;
    static Result<Input> decode(const Json& input);
    friend bool operator==(const Input&, const Input&) = default;
  };
  struct Output {
    std::string mdtrt_id;
    Json encode() const;
    static Result<Output> decode(const Json& output);
    friend bool operator==(const Output&, const Output&) = default;
  };
};

// ---- 2206/2207 门诊预结算/结算, 2303/2304 住院预结算/结算 ----
// exp_content (扩展内容): a JSON object; this project reads one member,
// acct_pay_max (text yuan "12.34"): the most the personal account may pay in
// this settlement (the national profile's refund of part, docs/insurer-profiles.md).
// Other members are ignored; absent = no cap.
struct ExpContent {
  std::optional<Amount> acct_pay_max;
  bool empty() const { return !acct_pay_max.has_value(); }
  friend bool operator==(const ExpContent&, const ExpContent&) = default;
};
struct SettleInput {
  std::string psn_no;
  std::string mdtrt_cert_type;  // "01" / "02" / "03"
  std::string mdtrt_cert_no;
  std::string med_type;
  Amount medfee_sumamt;      // must equal the lines settled
  std::string psn_setlway = "01";  // 01 by items
  std::string mdtrt_id;
  std::string chrg_bchno;    // outpatient: the batch settled; inpatient: empty = all lines
  std::string insutype;
  std::string acct_used_flag;  // "1" use the personal account (PIN verified), "0" not
  std::string medins_setl_id;  // the hospital's local settlement id (echoed, reported)
  ExpContent exp_content{};    // written only when not empty
  Json encode() const;
  static Result<SettleInput> decode(const Json& input);
  friend bool operator==(const SettleInput&, const SettleInput&) = default;
};
struct SetlInfo {
  std::string setl_id;        // empty in a preview
  std::string mdtrt_id;
  std::string psn_no;
  Amount medfee_sumamt;
  Amount fulamt_ownpay_amt;
  Amount preselfpay_amt;
  Amount inscp_scp_amt;
  Amount act_pay_dedc;        // deductible paid by this settlement
  Amount hifp_pay;            // basic fund (== fund_pay_sumamt here)
  Amount fund_pay_sumamt;
  Amount psn_part_amt;        // medfee_sumamt − fund_pay_sumamt
  Amount acct_pay;
  Amount psn_cash_pay;
  Amount balc;                // balance after
  std::string medins_setl_id;
  std::string setl_time;
  friend bool operator==(const SetlInfo&, const SetlInfo&) = default;
};
// Checks SetlInfo's arithmetic (used by decode and by the simulator before answering).
Status check_setlinfo(const SetlInfo& s, std::string_view path, bool require_setl_id);
struct SettleOutput {
  SetlInfo setlinfo;
  Json encode() const;
  static Result<SettleOutput> decode(const Json& output);          // setl_id required
  static Result<SettleOutput> decode_preview(const Json& output);  // setl_id may be empty
  friend bool operator==(const SettleOutput&, const SettleOutput&) = default;
};
struct OutpatientPreview {
  static constexpr std::string_view infno = "2206";
  using Input = SettleInput;
  struct Output : SettleOutput {
    static Result<Output> decode(const Json& output);
  };
};
struct OutpatientSettle {
  static constexpr std::string_view infno = "2207";
  using Input = SettleInput;
  using Output = SettleOutput;
};
struct InpatientPreview {
  static constexpr std::string_view infno = "2303";
  using Input = SettleInput;
  struct Output : SettleOutput {
    static Result<Output> decode(const Json& output);
  };
};
struct InpatientSettle {
  static constexpr std::string_view infno = "2304";
  using Input = SettleInput;
  using Output = SettleOutput;
};

// ---- 2208 / 2305 结算撤销 undo ----
struct UndoInput {
  std::string setl_id;
  std::string mdtrt_id;
  std::string psn_no;
  Json encode() const;
  static Result<UndoInput> decode(const Json& input);
  friend bool operator==(const UndoInput&, const UndoInput&) = default;
};
// What the undo gave back (positive amounts): everything left of the original.
struct UndoOutput {
  std::string setl_id;       // the undo's own id
  std::string orig_setl_id;
  Amount medfee_sumamt;
  Amount fund_pay_sumamt;
  Amount acct_pay;
  Amount psn_cash_pay;
  Amount balc;
  Json encode() const;
  static Result<UndoOutput> decode(const Json& output);
  friend bool operator==(const UndoOutput&, const UndoOutput&) = default;
};
struct OutpatientUndo {
  static constexpr std::string_view infno = "2208";
  using Input = UndoInput;
  using Output = UndoOutput;
};
struct InpatientUndo {
  static constexpr std::string_view infno = "2305";
  using Input = UndoInput;
  using Output = UndoOutput;
};

// ---- 2601 冲正 reversal ----
enum class ReversalResult : std::uint8_t {
  reversed = 1,          // the original's effect was undone now
  already_reversed = 2,  // an earlier reversal undid it (idempotent)
  not_found = 3,         // the insurer never processed that msgid; it never will now
  no_effect = 4,         // processed, but nothing to undo (a query, a refused request, already undone)
};
std::string_view reversal_result_name(ReversalResult r) noexcept;
struct Reversal {
  static constexpr std::string_view infno = "2601";
  struct Input {
    std::string psn_no;
    std::string omsgid;
    std::string oinfno;
    Json encode() const;
    static Result<Input> decode(const Json& input);
    friend bool operator==(const Input&, const Input&) = default;
  };
  struct Output {
    std::string omsgid;
    std::string oinfno;
    ReversalResult result = ReversalResult::not_found;
    // What went back (zero unless `reversed`): positive amounts.
    Amount medfee_sumamt;
    Amount fund_pay_sumamt;
    Amount acct_pay;
    Amount psn_cash_pay;
    Json encode() const;
    static Result<Output> decode(const Json& output);
    friend bool operator==(const Output&, const Output&) = default;
  };
};

// ---- 3201 对总账 daily totals ----
struct DailyTotals {
  static constexpr std::string_view infno = "3201";
  struct Input {
    std::string insutype;
    std::string clr_type = "11";   // 11 outpatient, 21 inpatient, "" all
    std::string stmt_begndate;     // "yyyy-MM-dd"
    std::string stmt_enddate;
    Amount medfee_sumamt;          // the hospital's totals, net of refunds
    Amount fund_pay_sumamt;
    Amount acct_pay;
    std::int64_t fixmedins_setl_cnt = 0;
    std::string setl_optins{};     // the insured area of the group (6 digits); "" every area
    Json encode() const;
    static Result<Input> decode(const Json& input);
    friend bool operator==(const Input&, const Input&) = default;
  };
  struct Output {
    std::string stmt_rslt;  // "0" balanced, "1" not
    std::string stmt_rslt_dscr;
    Amount medfee_sumamt;   // the insurer's totals
    Amount fund_pay_sumamt;
    Amount acct_pay;
    Amount psn_cash_pay;
    std::int64_t setl_cnt = 0;
    Json encode() const;
    static Result<Output> decode(const Json& output);
    friend bool operator==(const Output&, const Output&) = default;
  };
};

// ---- 3202 对明细账 detail (paged, inline) ----
struct DetailReconcile {
  static constexpr std::string_view infno = "3202";
  struct Input {
    std::string insutype;  // "" all
    std::string clr_type;  // "11" outpatient, "21" inpatient, "" all
    std::string stmt_begndate;
    std::string stmt_enddate;
    std::int64_t page_num = 1;
    std::int64_t page_size = 100;
    Json encode() const;
    static Result<Input> decode(const Json& input);
    friend bool operator==(const Input&, const Input&) = default;
  };
  struct Row {
    std::string psn_no;
    std::string mdtrt_id;
    std::string setl_id;
    std::string msgid;
    std::string medins_setl_id;
    std::string insutype;
    std::string setl_time;
    Amount medfee_sumamt;     // net of refunds
    Amount fund_pay_sumamt;
    Amount acct_pay;
    Amount psn_cash_pay;
    std::string refd_setl_flag;  // "0" untouched, "1" partly refunded, "2" undone or reversed
    std::string stmt_rslt;       // "0": the insurer's own row
    std::string insuplc_admdvs{};  // the person's insured area (6 digits; "" when the insurer omits it)
    friend bool operator==(const Row&, const Row&) = default;
  };
  struct Output {
    std::int64_t page_num = 1;
    std::int64_t page_size = 0;
    std::int64_t total = 0;  // rows over all pages
    std::vector<Row> rows;
    Json encode() const;
    static Result<Output> decode(const Json& output);
    friend bool operator==(const Output&, const Output&) = default;
  };
};

// ---- 9304 账户交易查询 account history (extension; regional profile only) ----
struct AccountHistory {
  static constexpr std::string_view infno = "9304";
  struct Input {
    std::string psn_no;
    std::int64_t page_size = 20;  // most recent first
    Json encode() const;
    static Result<Input> decode(const Json& input);
    friend bool operator==(const Input&, const Input&) = default;
  };
  struct Record {
    std::string time;    // "yyyy-MM-dd HH:mm:ss"
    std::string kind;    // settle, undo, refund, reversal, offline, adjust
    std::string ref_id;  // setl_id / refund id
    std::string msgid;
    Amount amount;       // signed: negative = paid from the account
    Amount balc;         // balance after
    friend bool operator==(const Record&, const Record&) = default;
  };
  struct Output {
    std::string psn_no;
    Amount balc;
    std::vector<Record> records;
    Json encode() const;
    static Result<Output> decode(const Json& output);
    friend bool operator==(const Output&, const Output&) = default;
  };
};

// ---- 9301 部分退费 partial refund (extension) ----
struct RefundLine {
  std::string med_list_codg;
  Amount amount;
  friend bool operator==(const RefundLine&, const RefundLine&) = default;
};
struct PartialRefund {
  static constexpr std::string_view infno = "9301";
  struct Input {
    std::string setl_id;
    std::string psn_no;
    std::string mdtrt_cert_no;   // card number presented; must match the original's
    std::string medins_refd_id;  // the hospital's local refund id
    std::vector<RefundLine> lines;  // empty = everything left
    Json encode() const;
    static Result<Input> decode(const Json& input);
    friend bool operator==(const Input&, const Input&) = default;
  };
  struct Output {
    std::string refd_id;  // the insurer's refund id
    std::string setl_id;
    Amount refund_total;
    Amount fund_r;
    Amount acct_r;
    Amount cash_r;        // fund_r + acct_r + cash_r == refund_total
    Amount balc;
    Json encode() const;
    static Result<Output> decode(const Json& output);
    friend bool operator==(const Output&, const Output&) = default;
  };
};

// ---- 9302 离线结算上传 offline upload (extension) ----
struct OfflineRecord {
  std::string local_id;      // the hospital's id, unique per institution
  std::string psn_no;        // may be empty when only the card number is known
  std::string card_no;
  std::string insutype;
  std::string med_type = "11";  // "21": an inpatient discharge settled offline
  std::string mdtrt_id;      // med_type "21": the admission settled (its lines are the insurer's, from 2301);
                             // empty for outpatient records
  std::string setl_time;     // original time, "yyyy-MM-dd HH:mm:ss"
  std::string reason_code;   // offline_network_down, offline_in_doubt, ...
  Amount medfee_sumamt;
  Amount est_fund_pay;       // the hospital's estimate
  Amount psn_cash_pay;       // what the patient paid locally (medfee − est_fund)
  std::vector<FeeDetail> lines;  // outpatient: 1..max_feedetail (mdtrt_id/psn_no/chrg_bchno may be empty);
                                 // inpatient: none
  friend bool operator==(const OfflineRecord&, const OfflineRecord&) = default;
};
struct OfflineResult {
  std::string local_id;
  std::string status;         // "accepted" or "rejected"
  std::string setl_id;        // accepted
  std::string mdtrt_id;       // accepted: the visit the insurer opened for the record (2208 names it);
                              // empty when an older insurer omits it
  Amount medfee_sumamt;
  Amount fund_pay_sumamt;     // authoritative
  Amount acct_pay;            // always 0
  Amount psn_cash_pay;
  std::string rej_reason;     // rejected: unknown_person, invalid_record, insurer_rule
  std::string err_msg;
  friend bool operator==(const OfflineResult&, const OfflineResult&) = default;
};
struct OfflineUpload {
  static constexpr std::string_view infno = "9302";
  struct Input {
    std::vector<OfflineRecord> records;  // 1..max_offline_batch, unique local_id
    Json encode() const;
    static Result<Input> decode(const Json& input);
    friend bool operator==(const Input&, const Input&) = default;
  };
  struct Output {
    std::vector<OfflineResult> results;  // one per record, same order
    Json encode() const;
    static Result<Output> decode(const Json& output);
    friend bool operator==(const Output&, const Output&) = default;
  };
};

// ---- 9303 红名单下载 red list (extension) ----
struct RedListEntry {
  std::string card_no;
  std::string psn_no;
  std::string insutype;
  PersonFlags flags;
  Amount deductible_used;
  Amount fund_paid_ytd;
  std::string op;  // "upsert" or "delete"
  friend bool operator==(const RedListEntry&, const RedListEntry&) = default;
};
struct RedList {
  static constexpr std::string_view infno = "9303";
  struct Input {
    std::int64_t since_version = 0;  // 0 = full snapshot
    std::int64_t to_version = 0;     // 0 on the first page; then the version page 1 returned
    std::int64_t page_num = 1;
    std::int64_t page_size = 1000;
    Json encode() const;
    static Result<Input> decode(const Json& input);
    friend bool operator==(const Input&, const Input&) = default;
  };
  struct Output {
    std::int64_t since_version = 0;
    std::int64_t version = 0;  // the version the list reaches once every page is applied
    std::int64_t page_num = 1;
    std::int64_t total = 0;    // entries over all pages
    bool more = false;         // another page follows
    std::vector<RedListEntry> entries;
    Json encode() const;
    static Result<Output> decode(const Json& output);
    friend bool operator==(const Output&, const Output&) = default;
  };
};

// ---- 9401 电子凭证解码 e-voucher decode (extension) ----
// Stands in for the e-voucher platform's cn.nhsa.ec.query: the QR the patient
// shows is decoded into a token (good for ec_token_lifetime_s, for this one
// person) that 1101 and the visit/settle calls carry as mdtrt_cert_no with
// mdtrt_cert_type "01".
inline constexpr std::int64_t ec_token_lifetime_s = 300;
struct EcQuery {
  static constexpr std::string_view infno = "9401";
  struct Input {
    std::string ec_qrcode;           // the QR's text as scanned
    std::string biz_type = "01101";  // the business the code is shown for (digits; 01101 registration)
    Json encode() const;
    static Result<Input> decode(const Json& input);
    friend bool operator==(const Input&, const Input&) = default;
  };
  struct Output {
    std::string ec_token;
    std::string psn_cert_type;   // "01" 居民身份证
    std::string certno;          // the ID number
    std::string psn_name;
    std::string insuplc_admdvs;  // 6 digits
    std::string acct_auth;       // "1": the patient allowed the personal account on the phone; "0" not
    std::int64_t expires_in = ec_token_lifetime_s;  // seconds the token stays good
    Json encode() const;
    static Result<Output> decode(const Json& output);
    friend bool operator==(const Output&, const Output&) = default;
  };
};

// ---- whole exchanges ----
// A request body for transaction T.
template <class T>
std::string encode_call(RequestHeader head, const typename T::Input& in) {
  head.infno = std::string(T::infno);
  return encode_request(head, in.encode());
}

// Decodes a reply to transaction T sent with `sent_msgid`: the envelope, then
// infcode (non-zero is INSURER_REJECTED with err_msg as message and the
// infcode in `field` as "infcode=<n>"), then the output.
template <class T>
Result<typename T::Output> decode_reply(std::string_view body, std::string_view sent_msgid) {
  auto r = decode_response(body, sent_msgid);
  if (!r) return r.error();
  if (r->infcode != infcode_ok)
    return make_error(Reason::insurer_rejected, "infcode=" + std::to_string(r->infcode),
                      r->err_msg.empty() ? std::string("insurer answered with an error and no message")
                                         : r->err_msg);
  return T::Output::decode(r->output);
}

// An error reply body for a request (infcode −1).
std::string encode_error_reply(std::string_view msgid, std::string_view err_msg, std::int64_t received_ms,
                               std::int64_t now_ms);
// A success reply body.
std::string encode_ok_reply(std::string_view msgid, const Json& output, std::int64_t received_ms,
                            std::int64_t now_ms);

}  // namespace settle::insurer
