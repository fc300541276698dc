// The daemon's seams for one cashier call's flow (flow_driver.hpp): the
// ledger through the group-commit writer and the read pool, the insurer
// through the gateway and its codecs, the window's card through the card
// pool, and the system clock. One per cashier call; lives as long as it.
#pragma once

#include "engine/flows.hpp"
#include "offline/flow_ledger.hpp"
#include "tools/settled/flow_driver.hpp"
#include "tools/settled/service.hpp"

#include <optional>
#include <string>

namespace settle::daemon {

class CallSeams final : public LedgerSeam, public InsurerSeam, public CardsSeam, public ClockSeam {
 public:
  // `card`: the card held at the window; none with an e-voucher or an ID number.
  CallSeams(Service& service, const cashier::SessionInfo& session, std::optional<reader::CardIdentity> card);
  // How the flow's answers are written (a refund's own shape: settle_flow.cpp).
  void use_conventions(const ledger::FlowConventions* c) { conventions_ = c; }

  FlowSeams seams();
  // Starts the card check now (it overlaps the request's claim); the flow's
  // first CheckCard takes its result. With the line down, the card's thread
  // also looks the card up in the red list right after the check, and the
  // flow's FindPerson takes that (one hand-off to the read pool and back fewer).
  void start_card_check();
  // The budget of a call starting now: the insurer's calls within
  // [network] offline_deadline_ms, the offline fallback's commit within the reserve after it.
  flow::Budget budget() const;

  awaitable<flow::Committed> commit(const flow::LedgerChange& change) override;
  void start(const flow::LedgerChange& change) override;
  awaitable<flow::Committed> finish_started() override;
  awaitable<std::int64_t> reversals_open(const std::string& psn_no) override;
  awaitable<flow::OutstandingFigures> outstanding(flow::Ms now, VisitType visit) override;
  awaitable<flow::OpenStayFound> open_stay(const flow::OpenStay& q) override;
  awaitable<flow::LinesFound> lines_held(const flow::LinesHeld& q) override;

  std::string new_msgid() override;
  awaitable<flow::PersonFound> person(const flow::FindPerson& f) override;
  awaitable<flow::InsurerReply> call(const flow::InsurerCall& c) override;

  awaitable<Status> check_card() override;

  flow::Ms now() override;

 private:
  Service& svc_;
  const cashier::SessionInfo& session_;
  std::optional<reader::CardIdentity> card_;
  const ledger::FlowConventions* conventions_;
  using Listed = Result<std::optional<redlist::Entry>>;
  struct CardCheck {
    Status card;
    std::optional<Listed> listed;  // the red list's answer, when it was asked
  };
  std::optional<Pending<CardCheck>> card_check_;
  std::optional<Listed> listed_;  // from the card check, for the next offline FindPerson
  std::optional<Pending<sql::Result<ledger::Applied>>> started_;
  bool started_queues_reversal_ = false;
  std::string_view started_name_;
};

}  // namespace settle::daemon
