// The driver loop (see flow_driver.hpp): one action at a time, each through
// its seam, timed; the flow decides everything, the driver only does what it names.
#include "tools/settled/flow_driver.hpp"

#include <chrono>
#include <type_traits>
#include <variant>

namespace settle::daemon {

namespace {

// One action through its seam.
awaitable<flow::Event> perform(const flow::Action& action, FlowSeams& s) {
  if (std::holds_alternative<flow::CheckCard>(action)) {
    Status st = co_await s.cards.check_card();
    co_return flow::CardChecked{std::move(st)};
  }
  if (const auto* f = std::get_if<flow::FindPerson>(&action)) co_return co_await s.insurer.person(*f);
  if (const auto* r = std::get_if<flow::ReversalsOpen>(&action)) {
    const std::int64_t open = co_await s.ledger.reversals_open(r->psn_no);
    co_return flow::ReversalsCount{open};
  }
  if (const auto* o = std::get_if<flow::OfflineOutstanding>(&action))
    co_return co_await s.ledger.outstanding(s.clock.now(), o->visit);
  if (const auto* o = std::get_if<flow::OpenStay>(&action)) co_return co_await s.ledger.open_stay(*o);
  if (const auto* l = std::get_if<flow::LinesHeld>(&action)) co_return co_await s.ledger.lines_held(*l);
  if (std::holds_alternative<flow::NewMsgid>(action)) co_return flow::MsgidIssued{s.insurer.new_msgid()};
  if (const auto* c = std::get_if<flow::Commit>(&action)) co_return co_await s.ledger.commit(c->change);
  if (const auto* c = std::get_if<flow::StartCommit>(&action)) {
    s.ledger.start(c->change);
    co_return flow::CommitStarted{};
  }
  if (std::holds_alternative<flow::AwaitCommit>(action)) co_return co_await s.ledger.finish_started();
  flow::InsurerReply reply = co_await s.insurer.call(std::get<flow::Call>(action).call);
  co_return flow::Replied{std::move(reply)};
}

// The step an action makes the request wait on (Metrics::flow_steps), or
// none for those done at once (a msgid issued, a commit started).
std::string_view step_of(const flow::Action& action) {
  return std::visit(
      [](const auto& a) -> std::string_view {
        using A = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<A, flow::CheckCard>) return "card_check";
        else if constexpr (std::is_same_v<A, flow::FindPerson>) return "person";
        else if constexpr (std::is_same_v<A, flow::ReversalsOpen>) return "reversals_open";
        else if constexpr (std::is_same_v<A, flow::OfflineOutstanding>) return "offline_figures";
        else if constexpr (std::is_same_v<A, flow::OpenStay> || std::is_same_v<A, flow::LinesHeld>) return "stay_reads";
        else if constexpr (std::is_same_v<A, flow::Commit>) return "ledger_commit";
        else if constexpr (std::is_same_v<A, flow::AwaitCommit>) return "ledger_await";
        else if constexpr (std::is_same_v<A, flow::Call>) return "insurer_call";
        else return "";
      },
      action);
}

}  // namespace

awaitable<flow::Outcome> drive(flow::Flow& flow, FlowSeams seams) {
  flow.start(seams.clock.now());
  while (!flow.done()) {
    const flow::Action& action = flow.action();
    const std::string_view step = step_of(action);
    const auto began = std::chrono::steady_clock::now();
    flow::Event e = co_await perform(action, seams);
    if (seams.metrics != nullptr && !step.empty())
      seams.metrics->flow_step(step, std::chrono::duration_cast<std::chrono::microseconds>(
                                         std::chrono::steady_clock::now() - began)
                                         .count());
    flow.feed(std::move(e), seams.clock.now());
  }
  co_return flow.take_outcome();
}

}  // namespace settle::daemon
