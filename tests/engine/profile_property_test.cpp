// Seeded property test of the two insurer profiles: the same random charges
// and refunds run through the real flows against a model insurer that keeps
// books, once regional (a refund of part is 9301) and once national (the
// whole undo 2208 and a new settlement of the kept lines, the account capped).
// Per refund the patient gets the same back (cash, account, fund) and the
// persons end with the same balances and accumulators, wherever that can
// hold (the condition is below). SETTLE_SEED=<n> replays a run.
#include "engine/flows.hpp"

#include <doctest/doctest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace settle;
using namespace settle::flow;

namespace {

Policy model_policy() {
  Policy p;
  // A small deductible and cap, so that refunds cross both.
  p.set("310", VisitType::outpatient,
        PolicyParams{Amount::fen(5'000), Ratio::ppm(700'000), Amount::fen(300'000), Ratio::ppm(100'000)});
  return p;
}

struct Gen {
  std::mt19937_64 rng;
  std::int64_t between(std::int64_t lo, std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng); }
  bool chance(int percent) { return between(1, 100) <= percent; }
};

// A settlement at the model insurer: what it was split from, so a refund of
// lines (9301) splits the lines left the same way, and what it adds to the
// person's accumulators now.
struct ModelSetl {
  std::string psn_no;
  Parts parts;
  std::vector<ChargeLine> lines;
  std::vector<LineRefund> refunded;  // lines taken back by 9301
  std::vector<Parts> refunds;
  Person before;      // the person it was split with
  SplitOptions opts;
  Amount deductible;  // its part of deductible_used now
  bool undone = false;
};

// The insurer's books: persons, settlements, and the money calls' effects
// (by msgid, for reversals).
class Model {
 public:
  Model(const Policy& policy, bool national, bool ignore_cap) : policy_(policy), national_(national), ignore_cap_(ignore_cap) {}

  std::map<std::string, Person> persons;
  std::map<std::string, ModelSetl> setls;  // by insurer setl_id
  std::int64_t over_cap = 0;
  Amount preview_skew;  // added to the preview's fund (and taken from its cash): a preview that differs

  // The person's accumulators less what settlement `id` adds to them now
  // equal those it was split with: no other settlement of the person
  // changed them since.
  bool accumulators_as_at(const std::string& id) const {
    const ModelSetl& s = setls.at(id);
    const Person& now = persons.at(s.psn_no);
    const Parts left = remaining(s.parts, s.refunds);
    return now.deductible_used - s.deductible == s.before.deductible_used && now.fund_paid_ytd - left.fund == s.before.fund_paid_ytd;
  }

  InsurerReply call(const InsurerCall& c) {
    InsurerReply r;
    r.outcome = CallOutcome::ok;
    switch (c.txn) {
      case Txn::register_visit: r.mdtrt_id = "V" + c.visit_ref; return r;
      case Txn::upload_lines: lines_[c.visit_ref] = c.lines; return r;
      case Txn::preview:
      case Txn::settle: {
        if (c.txn == Txn::preview && !national_) return refuse("no such transaction 2206 in the regional interface");
        Person& p = persons.at(c.psn_no);
        SplitOptions o;
        o.use_account = c.use_account;
        o.pin_verified = c.use_account;
        if (c.acct_cap && !ignore_cap_) o.account_cap = c.acct_cap;
        auto sp = split(policy_, p, lines_.at(c.visit_ref), o);
        if (!sp) return refuse(sp.error().message);
        r.parts = parts_of(*sp);
        r.fulamt_ownpay = sp->fulamt_ownpay;
        r.preselfpay = sp->preselfpay;
        r.inscp = sp->inscp;
        r.deductible_part = sp->deductible_part;
        if (c.txn == Txn::preview) {
          r.parts.fund += preview_skew;
          r.parts.cash -= preview_skew;
          return r;
        }
        if (c.acct_cap && sp->account > *c.acct_cap) ++over_cap;
        ModelSetl s{c.psn_no, r.parts, lines_.at(c.visit_ref), {}, {}, p, o, sp->deductible_part, false};
        p.balance -= sp->account;
        p.deductible_used += sp->deductible_part;
        p.fund_paid_ytd += sp->fund;
        r.balance_after = p.balance;
        r.insurer_id = "S" + c.msgid;
        setls[r.insurer_id] = s;
        effects_[c.msgid] = r.insurer_id;
        return r;
      }
      case Txn::refund: {
        if (national_) return refuse("no such transaction 9301 in the national interface");
        ModelSetl& s = setls.at(c.insurer_setl_id);
        // The fund's share as the insurer computes it: the lines left split
        // as the original was (the person as then, the same options).
        auto plan = plan_line_refund(s.lines, s.refunded, c.refund_lines);
        if (!plan) return refuse(plan.error().message);
        const Parts left = remaining(s.parts, s.refunds);
        auto fund = fund_share_of_line_refund(policy_, s.before, s.opts, *plan, left.fund);
        if (!fund) return refuse(fund.error().message);
        auto back = split_refund(s.parts, s.refunds, plan->refund_total, *fund);
        if (!back) return refuse(back.error().message);
        Amount deductible_after;
        if (!plan->remaining_after.empty()) deductible_after = split(policy_, s.before, plan->remaining_after, s.opts)->deductible_part;
        Person& p = persons.at(s.psn_no);
        p.balance += back->account;
        p.fund_paid_ytd -= back->fund;
        p.deductible_used -= s.deductible - deductible_after;
        s.deductible = deductible_after;
        s.refunds.push_back(*back);
        if (c.refund_lines.empty()) {
          s.lines.clear();  // everything left: nothing is left
          s.refunded.clear();
        }
        for (const LineRefund& l : c.refund_lines) s.refunded.push_back(l);
        r.parts = *back;
        r.insurer_id = "R" + c.msgid;
        return r;
      }
      case Txn::undo: {
        ModelSetl& s = setls.at(c.insurer_setl_id);
        if (s.undone) return refuse("already undone");
        const Parts left = remaining(s.parts, s.refunds);
        Person& p = persons.at(s.psn_no);
        p.balance += left.account;
        p.fund_paid_ytd -= left.fund;
        p.deductible_used -= s.deductible;
        s.undone = true;
        r.parts = left;
        r.insurer_id = "U" + c.msgid;
        return r;
      }
      default: return refuse(fmt::format("the model has no {}", txn_code(c.txn)));
    }
  }

  // A settle call whose success could not stand, reversed (2601).
  void reverse(const std::string& msgid) {
    auto e = effects_.find(msgid);
    REQUIRE(e != effects_.end());
    const ModelSetl& s = setls.at(e->second);
    Person& p = persons.at(s.psn_no);
    p.balance += s.parts.account;
    p.fund_paid_ytd -= s.parts.fund;
    p.deductible_used -= s.deductible;
    setls.erase(e->second);
    effects_.erase(e);
  }

 private:
  static InsurerReply refuse(std::string why) {
    InsurerReply r;
    r.outcome = CallOutcome::refused;
    r.infcode = -1;
    r.detail = std::move(why);
    return r;
  }
  const Policy& policy_;
  bool national_;
  bool ignore_cap_;
  std::map<std::string, std::vector<ChargeLine>> lines_;  // 2204's, by visit
  std::map<std::string, std::string> effects_;            // settle msgid -> setl id
};

// One profile's world: the model insurer and a ledger of the flows' records.
class World {
 public:
  World(const Policy& policy, bool national, bool ignore_cap)
      : model(policy, national, ignore_cap), policy_(policy), profile_(national ? national_profile() : regional_profile()) {}

  Model model;
  int offline_asked = 0;
  std::vector<InsurerCall> calls;  // every call the flows made, in order
  std::map<std::int64_t, OriginalView> ledger;
  std::vector<std::string> reversed;  // settle msgids reversed

  const InsurerProfile& profile() const { return profile_; }

  Outcome run(Flow f, const std::string& psn_no) {
    f.start(++now_);
    std::optional<Committed> started;
    while (!f.done()) {
      const Action a = f.action();
      Event e = perform(a, psn_no, started);
      f.feed(std::move(e), ++now_);
    }
    return f.outcome();
  }

  // A settle.commit as the test makes it (the request id, window, budget,
  // policy and profile filled in).
  Outcome commit(CommitInput in, const std::string& psn_no) {
    in.request_id = fmt::format("C{}", ++requests_);
    in.window = "W1";
    in.operator_id = "op";
    in.budget = Budget{1'000'000'000, 0};
    in.policy = &policy_;
    in.profile = &profile_;
    return run(commit_flow(std::move(in)), psn_no);
  }

  Outcome charge(const std::string& psn_no, std::vector<ChargeLine> lines, bool use_account) {
    CommitInput in;
    in.request_id = fmt::format("C{}", ++requests_);
    in.window = "W1";
    in.operator_id = "op";
    in.card_no = "K" + psn_no;
    in.lines = std::move(lines);
    in.use_account = use_account;
    in.pin_verified = use_account;
    in.budget = Budget{1'000'000'000, 0};
    in.policy = &policy_;
    in.profile = &profile_;
    in.facts = VisitFacts{"D01", "", "", "", {Diagnosis{"J06.9", ""}}};
    return run(commit_flow(std::move(in)), psn_no);
  }

  Outcome refund(std::int64_t setl_id, std::vector<LineRefund> lines) {
    RefundInput in;
    in.request_id = fmt::format("F{}", ++requests_);
    in.window = "W1";
    in.operator_id = "op";
    in.original = ledger.at(setl_id);
    in.card_no = in.original.settlement.card_no;
    in.psn_no = in.original.settlement.psn_no;
    in.lines = std::move(lines);
    in.budget = Budget{1'000'000'000, 0};
    in.profile = &profile_;
    in.policy = &policy_;
    const std::string psn_no = in.original.settlement.psn_no;
    return run(refund_flow(std::move(in)), psn_no);
  }

 private:
  Event perform(const Action& a, const std::string& psn_no, std::optional<Committed>& started) {
    if (std::holds_alternative<CheckCard>(a)) return CardChecked{Ok{}};
    if (std::holds_alternative<FindPerson>(a)) {
      PersonFound f;
      f.person = model.persons.at(psn_no);
      f.psn_no = psn_no;
      f.insuplc_admdvs = "110108";
      return f;
    }
    if (std::holds_alternative<ReversalsOpen>(a)) return ReversalsCount{0};
    if (std::holds_alternative<NewMsgid>(a)) return MsgidIssued{fmt::format("M{}", ++msgids_)};
    if (const auto* c = std::get_if<Call>(&a)) {
      calls.push_back(c->call);
      return Replied{model.call(c->call)};
    }
    if (const auto* s = std::get_if<StartCommit>(&a)) {
      started = apply(s->change);
      return CommitStarted{};
    }
    if (std::holds_alternative<AwaitCommit>(a)) {
      Committed c = *started;
      started.reset();
      return c;
    }
    if (const auto* c = std::get_if<Commit>(&a)) return apply(c->change);
    if (std::holds_alternative<OfflineOutstanding>(a)) ++offline_asked;
    FAIL("an action the property test does not drive: #" << a.index());
    return CardChecked{Ok{}};
  }

  Committed apply(const LedgerChange& change) {
    Committed done;
    if (const auto* r = std::get_if<RecordSettlement>(&change)) {
      OriginalView v;
      v.settlement = r->settlement;
      v.settlement.setl_id = ++ids_;
      ledger[v.settlement.setl_id] = v;
      done.id = ids_;
    } else if (const auto* f = std::get_if<RecordRefund>(&change)) {
      OriginalView& v = ledger.at(f->refund.setl_id);
      v.refunds.push_back(f->refund);
      v.settlement.state = f->new_state;
      done.id = ++ids_;
    } else if (const auto* u = std::get_if<RecordUndo>(&change)) {
      OriginalView& v = ledger.at(u->undo.setl_id);
      v.refunds.push_back(u->undo);
      v.settlement.state = SettlementState::undone;
      done.id = ++ids_;
    } else if (const auto* x = std::get_if<RecordCallFailed>(&change)) {
      // A success that cannot stand (or a call in doubt): reversed now.
      if (x->outcome == CallOutcome::in_doubt && (x->txn == Txn::settle)) {
        model.reverse(x->msgid);
        reversed.push_back(x->msgid);
      }
    }
    return done;
  }

  const Policy& policy_;
  InsurerProfile profile_;
  Ms now_ = 0;
  std::int64_t ids_ = 0, requests_ = 0, msgids_ = 0;
};

std::uint64_t seed_from_env(std::uint64_t dflt) {
  if (const char* s = std::getenv("SETTLE_SEED")) return std::strtoull(s, nullptr, 10);
  return dflt;
}

std::vector<ChargeLine> random_lines(Gen& g) {
  std::vector<ChargeLine> out;
  const auto n = g.between(1, 4);
  for (std::int64_t i = 0; i < n; ++i)
    out.push_back(ChargeLine{fmt::format("I{}", g.between(1, 5)), "item", static_cast<LineClass>(g.between(1, 3)),
                             Amount::fen(g.between(500, 60'000)), std::nullopt});
  return out;
}

// What the patient got back from refund `o` (regional: the 9301's; national:
// the undo less the new settlement).
Parts back_of(const Outcome& o) { return o.answer.refund ? o.answer.refund->parts : Parts{}; }

}  // namespace

TEST_CASE("national: a refund of part settles the kept lines with the credential at the window; by ID number, no account") {
  const Policy policy = model_policy();
  const std::string id_no = "110105198001010019";
  const std::vector<ChargeLine> lines{ChargeLine{"I1", "item", LineClass::a, Amount::fen(30'000), std::nullopt},
                                      ChargeLine{"I2", "item", LineClass::c, Amount::fen(6'000), std::nullopt}};
  // An original by e-voucher with the account authorised; the patient comes
  // back with the e-voucher again, with the ID number, or with nothing held.
  for (const CertType now : {CertType::ec_voucher, CertType::id_no}) {
    CAPTURE(cert_type_name(now));
    World w(policy, true, false);
    Person p;
    p.insutype = "310";
    p.balance = Amount::fen(50'000);
    w.model.persons["P1"] = p;
    CommitInput in;
    in.cert_type = CertType::ec_voucher;
    in.cert_no = "ECTOKEN-AT-THE-ORIGINAL";
    in.acct_auth = true;
    in.use_account = true;
    in.lines = lines;
    in.facts = VisitFacts{"D01", "", "", "", {Diagnosis{"J06.9", ""}}};
    const Outcome orig = w.commit(in, "P1");
    REQUIRE(orig.answer.ok());
    const SettlementRecord& o = *orig.answer.settlement;
    REQUIRE(o.parts.account.fen() > 0);
    const std::int64_t setl_id = o.setl_id;
    w.ledger.at(setl_id).settlement.cert_no.clear();  // the ledger keeps no token or ID number

    const auto refund = [&](CertType t, std::string cert_no) {
      RefundInput r;
      r.request_id = fmt::format("F-{}", cert_no);
      r.window = "W1";
      r.operator_id = "op";
      r.original = w.ledger.at(setl_id);
      r.psn_no = "P1";
      r.cert_type = t;
      r.cert_no = std::move(cert_no);
      r.lines = {LineRefund{"I2", Amount::fen(6'000)}};
      r.budget = Budget{1'000'000'000, 0};
      r.profile = &w.profile();
      r.policy = &policy;
      return w.run(refund_flow(std::move(r)), "P1");
    };
    // Nothing to settle the kept lines with: refused before anything is sent.
    const std::size_t before = w.calls.size();
    const Outcome none = refund(now, "");
    REQUIRE(none.answer.error);
    CHECK(none.answer.error->reason == Reason::card_absent);
    CHECK(none.answer.error->field == "credential");
    CHECK_FALSE(none.answer.final);
    CHECK(w.calls.size() == before);

    const std::string cert_no = now == CertType::id_no ? id_no : "ECTOKEN-NOW";
    const Outcome back = refund(now, cert_no);
    REQUIRE_MESSAGE(back.answer.ok(), (back.answer.error ? back.answer.error->message : ""));
    REQUIRE(back.answer.settlement);
    const SettlementRecord& kept = *back.answer.settlement;
    CHECK(kept.cert_type == now);
    // 2201 and 2207 of the new settlement carry the credential at the window.
    int with_it = 0;
    for (std::size_t i = before; i < w.calls.size(); ++i)
      if (w.calls[i].txn == Txn::register_visit || w.calls[i].txn == Txn::settle) {
        CHECK(w.calls[i].cert_type == now);
        CHECK(w.calls[i].cert_no == cert_no);
        ++with_it;
      }
    CHECK(with_it == 2);
    const Parts got = back.answer.refund->parts;
    CHECK(got.total == Amount::fen(6'000));
    CHECK(got.account <= o.parts.account);
    if (now == CertType::id_no) {
      // By ID number the kept lines pay no account: all of it comes back to the account.
      CHECK(kept.parts.account.is_zero());
      CHECK(std::count(kept.reasons.begin(), kept.reasons.end(), SplitReason::account_not_by_id) == 1);
      CHECK(got.account == o.parts.account);
    } else {
      CHECK(kept.parts.account.fen() > 0);
    }
  }
}

TEST_CASE("the national undo and new settlement gives back what the regional 9301 does, for the same charges and refunds") {
  const std::uint64_t seed = seed_from_env(20'261'204);
  MESSAGE("SETTLE_SEED=" << seed);
  const Policy policy = model_policy();
  int asserted = 0, unasserted = 0, partial = 0, capped = 0;
  for (int sequence = 0; sequence < 500; ++sequence) {
    Gen g{std::mt19937_64(seed * 1'000'003 + static_cast<std::uint64_t>(sequence))};
    World regional(policy, false, false), national(policy, true, false);
    const std::vector<std::string> psns{"P1", "P2"};
    for (const std::string& psn : psns) {
      Person p;
      p.insutype = "310";
      p.balance = g.chance(20) ? Amount::zero() : Amount::fen(g.between(0, 20'000));
      p.deductible_used = Amount::fen(g.between(0, 6'000));
      regional.model.persons[psn] = p;
      national.model.persons[psn] = p;
    }
    // Per charge: its settlement in each world (national: the latest of the chain).
    struct Charge {
      std::string psn;
      std::int64_t regional = 0, national = 0;
    };
    std::vector<Charge> charges;
    std::set<std::string> diverged;  // persons whose books may differ between the worlds from here on
    for (int step = 0; step < 8; ++step) {
      CAPTURE(sequence);
      CAPTURE(step);
      if (g.chance(12)) {
        // The account credited (the year's transfer), in both worlds: the
        // balance grows, the accumulators do not move. A refund of part
        // after it is where the account cap decides what the patient gets back.
        const std::string psn = psns[static_cast<std::size_t>(g.between(0, 1))];
        const Amount credit = Amount::fen(g.between(1'000, 50'000));
        regional.model.persons.at(psn).balance += credit;
        national.model.persons.at(psn).balance += credit;
        continue;
      }
      if (charges.empty() || g.chance(45)) {
        const std::string psn = psns[static_cast<std::size_t>(g.between(0, 1))];
        const auto lines = random_lines(g);
        const bool account = g.chance(75);
        const Outcome r = regional.charge(psn, lines, account);
        const Outcome n = national.charge(psn, lines, account);
        REQUIRE(r.answer.ok());
        REQUIRE(n.answer.ok());
        CHECK(n.answer.preview_differs.empty());  // the model's preview is its settlement
        if (diverged.count(psn) == 0) CHECK(r.answer.settlement->parts == n.answer.settlement->parts);
        charges.push_back(Charge{psn, r.answer.settlement->setl_id, n.answer.settlement->setl_id});
        continue;
      }
      // Mostly the latest charge (its person's accumulators are still its
      // own), now and then any earlier one.
      const std::size_t pick = g.chance(60) ? charges.size() - 1
                                            : static_cast<std::size_t>(g.between(0, static_cast<std::int64_t>(charges.size()) - 1));
      Charge& ch = charges[pick];
      const OriginalView& rv = regional.ledger.at(ch.regional);
      const OriginalView& nv = national.ledger.at(ch.national);
      if (!refundable(rv.settlement.state) || !refundable(nv.settlement.state)) continue;
      auto left = lines_left(rv);
      REQUIRE(left);
      if (left->empty()) continue;
      std::vector<LineRefund> lines;
      if (!g.chance(20)) {
        const ChargeLine& l = (*left)[static_cast<std::size_t>(g.between(0, static_cast<std::int64_t>(left->size()) - 1))];
        lines.push_back(LineRefund{l.code, g.chance(50) ? l.amount : Amount::fen(std::max<std::int64_t>(1, l.amount.fen() / 3))});
      }
      // THE CONDITION: the two can give back the same only when the
      // person's accumulators are still those the original was split with
      // (no other settlement of the person since changed them), in both worlds.
      const bool comparable = diverged.count(ch.psn) == 0 && regional.model.accumulators_as_at(rv.settlement.insurer_setl_id) &&
                              national.model.accumulators_as_at(nv.settlement.insurer_setl_id);
      const Parts standing = remaining(standing_parts(rv), [&] {
        std::vector<Parts> v;
        for (const auto& f : rv.refunds) v.push_back(f.parts);
        return v;
      }());
      const Outcome r = regional.refund(ch.regional, lines);
      const Outcome n = national.refund(ch.national, lines);
      REQUIRE_MESSAGE(r.answer.ok(), (r.answer.error ? r.answer.error->message : ""));
      REQUIRE_MESSAGE(n.answer.ok(), (n.answer.error ? n.answer.error->message : ""));
      const Parts rb = back_of(r), nb = back_of(n);
      // Everywhere: the refund's total, and never more to the account than it has left.
      CHECK(rb.total == nb.total);
      CHECK(nb.account <= standing.account);
      CHECK_FALSE(nb.account.is_negative());
      if (!lines.empty() && n.answer.settlement) {
        ++partial;
        const auto& why = n.answer.settlement->reasons;
        if (std::find(why.begin(), why.end(), SplitReason::account_capped) != why.end()) ++capped;
        ch.national = n.answer.settlement->setl_id;  // the kept lines' settlement stands for the charge now
        CHECK(n.answer.settlement->resettles_setl_id == std::optional<std::int64_t>(nv.settlement.setl_id));
        // The local split knows what the undo gives back.
        if (comparable) CHECK_MESSAGE(n.answer.preview_differs.empty(), (n.answer.preview_differs.empty() ? "" : n.answer.preview_differs[0]));
      }
      if (comparable) {
        ++asserted;
        CHECK(rb.cash == nb.cash);
        CHECK(rb.account == nb.account);
        CHECK(rb.fund == nb.fund);
      } else {
        ++unasserted;
        diverged.insert(ch.psn);
      }
    }
    for (const std::string& psn : psns) {
      if (diverged.count(psn) != 0) continue;
      CAPTURE(psn);
      const Person& a = regional.model.persons.at(psn);
      const Person& b = national.model.persons.at(psn);
      CHECK(a.balance == b.balance);
      CHECK(a.fund_paid_ytd == b.fund_paid_ytd);
      CHECK(a.deductible_used == b.deductible_used);
    }
    CHECK(national.model.over_cap == 0);
  }
  MESSAGE(asserted << " refunds compared to the fen (" << partial << " national refunds of part, " << capped
                   << " of them with the account capped), " << unasserted
                   << " under another settlement's accumulators (not comparable)");
  // Not vacuous: most refunds are compared.
  CHECK(asserted > 2 * unasserted);
  CHECK(partial > 100);
  CHECK(capped > 20);
}

TEST_CASE("an insurer that ignores the account cap: the new settlement above it is reversed, the original stays undone") {
  const Policy policy = model_policy();
  World national(policy, true, true);
  Person p;
  p.insutype = "310";
  p.balance = Amount::fen(1'000'000);
  national.model.persons["P1"] = p;
  // Class C lines: the patient pays all; the account takes all of it.
  const std::vector<ChargeLine> lines{ChargeLine{"I1", "item", LineClass::c, Amount::fen(10'000), std::nullopt},
                                      ChargeLine{"I2", "item", LineClass::c, Amount::fen(20'000), std::nullopt}};
  // The original took 50.00 from the account (all the balance then); by the
  // refund the balance is topped up, so the kept lines' patient part (200.00)
  // would take more than the 50.00 the original took.
  national.model.persons["P1"].balance = Amount::fen(5'000);
  const Outcome c = national.charge("P1", lines, true);
  REQUIRE(c.answer.ok());
  REQUIRE(c.answer.settlement->parts.account == Amount::fen(5'000));
  national.model.persons["P1"].balance = Amount::fen(1'000'000);  // topped up since
  const Outcome r = national.refund(c.answer.settlement->setl_id, {LineRefund{"I1", Amount::fen(10'000)}});
  REQUIRE_FALSE(r.answer.ok());
  CHECK(r.answer.final);
  CHECK(r.answer.error->message.find("acct_pay_max") != std::string::npos);
  CHECK(r.answer.error->message.find("the original settlement was undone") != std::string::npos);
  REQUIRE(r.answer.refund);  // the undo, whole
  CHECK(r.answer.refund->parts.account == Amount::fen(5'000));
  CHECK(national.model.over_cap == 1);
  CHECK(national.reversed.size() == 1);
  // The insurer's books: the undo stands, the new settlement is reversed.
  CHECK(national.model.persons.at("P1").balance == Amount::fen(1'005'000));
  CHECK(national.model.persons.at("P1").fund_paid_ytd == Amount::zero());
}

namespace {

World one_person(const Policy& policy, bool national, Amount balance) {
  World w(policy, national, false);
  Person p;
  p.insutype = "310";
  p.balance = balance;
  w.model.persons["P1"] = p;
  return w;
}

bool has_reason(const SettlementRecord& s, SplitReason r) {
  return std::find(s.reasons.begin(), s.reasons.end(), r) != s.reasons.end();
}

const std::vector<ChargeLine> kTwoLines{ChargeLine{"I1", "item", LineClass::a, Amount::fen(20'000), std::nullopt},
                                        ChargeLine{"I2", "item", LineClass::c, Amount::fen(8'000), std::nullopt}};

}  // namespace

TEST_CASE("the account by credential: an ID number never, an e-voucher only when authorised, in both profiles") {
  const Policy policy = model_policy();
  for (bool national : {false, true}) {
    CAPTURE(national);
    World w = one_person(policy, national, Amount::fen(100'000));
    CommitInput id;
    id.cert_type = CertType::id_no;
    id.cert_no = "110101199003070019";
    id.lines = kTwoLines;
    id.use_account = true;
    id.pin_verified = true;  // (no PIN goes with an ID number; the credential decides)
    const Outcome a = w.commit(id, "P1");
    REQUIRE(a.answer.ok());
    CHECK(a.answer.settlement->parts.account == Amount::zero());
    CHECK(has_reason(*a.answer.settlement, SplitReason::account_not_by_id));
    CHECK(a.answer.settlement->cert_type == CertType::id_no);
    CHECK(a.answer.settlement->card_no.empty());
    CHECK(a.answer.settlement->insuplc_admdvs == "110108");  // from the person found
    CommitInput ec;
    ec.cert_type = CertType::ec_voucher;
    ec.cert_no = "EC-TOKEN";
    ec.lines = kTwoLines;
    ec.use_account = true;
    const Outcome b = w.commit(ec, "P1");
    REQUIRE(b.answer.ok());
    CHECK(b.answer.settlement->parts.account == Amount::zero());
    CHECK(has_reason(*b.answer.settlement, SplitReason::account_not_authorised));
    ec.acct_auth = true;
    const Outcome c = w.commit(ec, "P1");
    REQUIRE(c.answer.ok());
    CHECK(c.answer.settlement->parts.account > Amount::zero());
  }
}

TEST_CASE("no offline settlement without the card, nor in the national profile: refused, nothing stored, not final") {
  const Policy policy = model_policy();
  struct Row {
    bool national;
    CertType cert;
    const char* words;
  };
  const Row rows[] = {{false, CertType::id_no, "needs the medical-insurance card"},
                      {false, CertType::ec_voucher, "needs the medical-insurance card"},
                      {true, CertType::card, "has no offline settlement"}};
  for (const Row& r : rows) {
    CAPTURE(r.words);
    World w = one_person(policy, r.national, Amount::fen(100'000));
    CommitInput in;
    in.cert_type = r.cert;
    in.card_no = r.cert == CertType::card ? "K1" : "";
    in.lines = kTwoLines;
    in.line_online = false;
    const Outcome o = w.commit(in, "P1");
    REQUIRE_FALSE(o.answer.ok());
    CHECK_FALSE(o.answer.final);
    CHECK(o.answer.error->message.find(r.words) != std::string::npos);
    CHECK(w.ledger.empty());
    CHECK(w.offline_asked == 0);
  }
  // The regional profile with the card settles offline as before (the
  // model driver drives no offline settlement: it stops at the question).
  World w = one_person(policy, false, Amount::fen(100'000));
  CommitInput in;
  in.card_no = "K1";
  in.lines = kTwoLines;
  in.line_online = false;
  in.request_id = "C-offline";
  in.budget = Budget{1'000'000'000, 0};
  in.policy = &policy;
  Flow f = commit_flow(std::move(in));
  f.start(1);
  f.feed(CardChecked{Ok{}}, 2);
  REQUIRE_FALSE(f.done());
  CHECK(std::holds_alternative<FindPerson>(f.action()));  // the red list: offline goes on
}

TEST_CASE("the insurer's preview: differing parts named one sentence each; agreeing, nothing said") {
  const Policy policy = model_policy();
  World w = one_person(policy, true, Amount::zero());
  const Outcome same = w.charge("P1", kTwoLines, false);
  REQUIRE(same.answer.ok());
  CHECK_FALSE(same.answer.insurer_preview.has_value());
  CHECK(same.answer.preview_differs.empty());
  CHECK_FALSE(same.answer.preview_unanswered);
  w.model.preview_skew = Amount::fen(200);
  const Outcome skewed = w.charge("P1", kTwoLines, false);
  REQUIRE(skewed.answer.ok());
  REQUIRE(skewed.answer.insurer_preview.has_value());
  REQUIRE(skewed.answer.preview_differs.size() == 2);
  const Parts local = skewed.answer.settlement->parts;  // the model settles as the local split does
  CHECK(skewed.answer.preview_differs[0] == fmt::format("fund {} locally, {} by the insurer", format_amount(local.fund),
                                                        format_amount(local.fund + Amount::fen(200))));
  CHECK(skewed.answer.preview_differs[1].starts_with("cash "));
}

TEST_CASE("national: an inpatient refund of part is refused, naming the undo of the discharge") {
  const Policy policy = model_policy();
  const InsurerProfile national = national_profile();
  RefundInput in;
  in.request_id = "F1";
  in.card_no = "K1";
  in.original.settlement.setl_id = 9;
  in.original.settlement.adm_id = 3;
  in.original.settlement.card_no = "K1";
  in.original.settlement.visit = VisitType::inpatient;
  in.original.settlement.parts = Parts{Amount::fen(10'000), Amount::fen(8'000), Amount::zero(), Amount::fen(2'000)};
  in.lines = {LineRefund{"I1", Amount::fen(1'000)}};
  in.budget = Budget{1'000'000, 0};
  in.profile = &national;
  in.policy = &policy;
  Flow f = refund_flow(std::move(in));
  f.start(0);
  REQUIRE_FALSE(f.done());
  const auto* c = std::get_if<Commit>(&f.action());
  REQUIRE(c != nullptr);
  const auto* stored = std::get_if<StoreAnswer>(&c->change);
  REQUIRE(stored != nullptr);
  CHECK(stored->answer.error->message.find("undo the discharge settlement and discharge again") != std::string::npos);
}
