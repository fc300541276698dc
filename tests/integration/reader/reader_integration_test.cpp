// The reader module against the real pcscd with virtual cards in the vpcd
// readers: what a cashier window sees when cards are read, PINs checked,
// cards pulled or swapped, readers missing, and pcscd restarted under it.
#include "reader/card_service.hpp"
#include "reader/errors.hpp"
#include "reader/watcher.hpp"
#include "tests/support/pcsc_harness.hpp"

#include <doctest/doctest.h>

#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

using namespace settle;
using namespace settle::reader;
using settle::testing::Pcscd;
using settle::testing::VirtualCard;
using namespace std::chrono_literals;

namespace {

// One pcscd for the whole run (started on first use, stopped at exit).
Pcscd& pcscd() {
  static Pcscd instance;
  return instance;
}

std::string make_id(std::string first17) {
  first17.push_back(id_check_char(first17));
  return first17;
}

struct Holder {
  std::string card_sn, card_no, id_no, name;
  std::vector<std::string> args() const {
    return {"--card-sn", card_sn, "--card-no", card_no, "--id-no", id_no, "--name", name};
  }
};

const Holder kZhang{"110000D156000005", "A12345678", "11010519491231002X", "张伟"};
const Holder kOuyang{"440300D156000099", "B87654321", make_id("32010619850615124"), "欧阳娜娜"};

ReaderConfig two_windows() {
  ReaderConfig c;
  c.window_readers = {{"W1", settle::testing::vpcd_reader_name(0)}, {"W2", settle::testing::vpcd_reader_name(1)}};
  return c;
}

Pin pin(const char* digits) { return Pin::from_digits(digits).value(); }

std::string describe(const Error& e) { return std::string(reason_name(e.reason)) + " " + e.message; }

PinVerdict verdict(const Result<PinVerdict>& r) {
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : describe(r.error())));
  return r.value();
}

// Collects watcher events; waits for one that matches with a deadline.
class EventLog {
 public:
  EventSink sink() {
    return [this](ReaderEvent e) {
      std::lock_guard lk(mu_);
      events_.push_back(std::move(e));
      used_.push_back(false);
      cv_.notify_all();
    };
  }
  // Waits for an event not yet matched, after the last checkpoint.
  bool wait_for(ReaderEvent::Kind kind, const std::string& window, std::chrono::milliseconds deadline) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, deadline, [&] {
      for (std::size_t i = base_; i < events_.size(); ++i) {
        if (!used_[i] && events_[i].kind == kind && events_[i].window == window) {
          used_[i] = true;
          return true;
        }
      }
      return false;
    });
  }
  // Later waits ignore everything before this point.
  void checkpoint() {
    std::lock_guard lk(mu_);
    base_ = events_.size();
  }
  std::string dump() {
    std::lock_guard lk(mu_);
    std::string s;
    for (const auto& e : events_) s += std::string(event_kind_name(e.kind)) + "@" + e.window + " ";
    return s;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ReaderEvent> events_;
  std::deque<bool> used_;
  std::size_t base_ = 0;
};

}  // namespace

TEST_CASE("two windows read two cards at the same time") {
  pcscd();
  VirtualCard a(0, kZhang.args());
  VirtualCard b(1, kOuyang.args());
  CardService service(two_windows());
  auto ra = std::async(std::launch::async, [&] { return service.read_card("W1", 0ms); });
  auto rb = std::async(std::launch::async, [&] { return service.read_card("W2", 0ms); });
  auto ia = ra.get();
  auto ib = rb.get();
  REQUIRE_MESSAGE(ia.ok(), (ia.ok() ? "" : describe(ia.error())));
  REQUIRE_MESSAGE(ib.ok(), (ib.ok() ? "" : describe(ib.error())));
  CHECK(ia->card_sn == kZhang.card_sn);
  CHECK(ia->card_no == kZhang.card_no);
  CHECK(ia->id_no == kZhang.id_no);
  CHECK(ia->name == kZhang.name);
  CHECK(ia->gender == Gender::female);
  CHECK(ia->birth_date == BirthDate{1949, 12, 31});
  CHECK(ib->card_sn == kOuyang.card_sn);
  CHECK(ib->card_no == kOuyang.card_no);
  CHECK(ib->id_no == kOuyang.id_no);
  CHECK(ib->name == kOuyang.name);
  CHECK(ib->birth_date == BirthDate{1985, 6, 15});
  CHECK(*service.card_present("W1"));
}

TEST_CASE("non-ASCII names in GBK come back as UTF-8") {
  pcscd();
  CardService service(two_windows());
  for (const char* name : {"张伟", "欧阳娜娜", "王堃", "李𠮷", "阿依古丽·买买提"}) {
    Holder h = kZhang;
    h.name = name;
    VirtualCard card(0, h.args());
    auto id = service.read_card("W1", 0ms);
    REQUIRE_MESSAGE(id.ok(), name, " ", (id.ok() ? "" : describe(id.error())));
    CHECK(id->name == name);
  }
}

TEST_CASE("PIN: right, then wrong down to blocked, and blocked stays blocked") {
  pcscd();
  auto args = kZhang.args();
  args.insert(args.end(), {"--pin", "246810"});
  VirtualCard card(0, args);
  CardService service(two_windows());
  using K = PinVerdict::Kind;

  auto v = service.verify_pin("W1", pin("246810"));
  REQUIRE_MESSAGE(v.ok(), (v.ok() ? "" : describe(v.error())));
  CHECK(v->kind == K::verified);

  // A right PIN after a wrong one restores the count.
  CHECK(verdict(service.verify_pin("W1", pin("111111"))) == PinVerdict{K::wrong, 2});
  CHECK(verdict(service.verify_pin("W1", pin("246810"))).kind == K::verified);

  CHECK(verdict(service.verify_pin("W1", pin("111111"))) == PinVerdict{K::wrong, 2});   // 63C2
  CHECK(verdict(service.verify_pin("W1", pin("2468"))) == PinVerdict{K::wrong, 1});     // 63C1
  CHECK(verdict(service.verify_pin("W1", pin("13579"))) == PinVerdict{K::blocked, 0});  // 6983
  CHECK(verdict(service.verify_pin("W1", pin("246810"))) == PinVerdict{K::blocked, 0});
  CHECK(card.command("status").find("tries=0") != std::string::npos);
}

TEST_CASE("a card issued blocked answers blocked") {
  pcscd();
  auto args = kZhang.args();
  args.push_back("--blocked");
  VirtualCard card(0, args);
  CardService service(two_windows());
  CHECK(verdict(service.verify_pin("W1", pin("123456"))).kind == PinVerdict::Kind::blocked);
}

TEST_CASE("a card pulled in the middle of a read gives CARD_REMOVED and no person") {
  pcscd();
  auto args = kZhang.args();
  args.insert(args.end(), {"--delay-ms", "150"});  // 11 APDUs: the read takes about 1.7 s
  VirtualCard card(0, args);
  CardService service(two_windows());
  auto read = std::async(std::launch::async, [&] { return service.read_card("W1", 0ms); });
  std::this_thread::sleep_for(500ms);
  card.remove(false);
  auto id = read.get();
  REQUIRE_FALSE(id.ok());
  INFO(describe(id.error()));
  CHECK((id.error().reason == Reason::card_removed || id.error().reason == Reason::card_absent));

  // Back in, the same service reads it whole.
  card.command("delay 0");
  card.insert();
  auto again = service.read_card("W1", 0ms);
  REQUIRE_MESSAGE(again.ok(), (again.ok() ? "" : describe(again.error())));
  CHECK(again->name == kZhang.name);
}

TEST_CASE("a card pulled during the PIN check gives an error, not a verdict") {
  pcscd();
  auto args = kZhang.args();
  args.insert(args.end(), {"--delay-ms", "400"});
  VirtualCard card(0, args);
  CardService service(two_windows());
  auto verify = std::async(std::launch::async,
                           [&] { return service.verify_pin("W1", pin("123456")); });
  std::this_thread::sleep_for(600ms);  // SELECT answered, GET RESPONSE or VERIFY in flight
  card.remove(false);
  auto v = verify.get();
  REQUIRE_FALSE(v.ok());
  INFO(describe(v.error()));
  CHECK((v.error().reason == Reason::card_removed || v.error().reason == Reason::card_absent));
}

TEST_CASE("no card: CARD_ABSENT at once, or the card inserted within the wait") {
  pcscd();
  auto args = kZhang.args();
  args.push_back("--removed");
  VirtualCard card(0, args);
  CardService service(two_windows());
  auto none = service.read_card("W1", 0ms);
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().reason == Reason::card_absent);
  CHECK_FALSE(*service.card_present("W1"));

  auto waiting = std::async(std::launch::async, [&] { return service.read_card("W1", 10'000ms); });
  std::this_thread::sleep_for(200ms);
  card.insert(false);
  auto id = waiting.get();
  REQUIRE_MESSAGE(id.ok(), (id.ok() ? "" : describe(id.error())));
  CHECK(id->card_no == kZhang.card_no);

  card.remove();
  auto late = service.read_card("W1", 300ms);
  REQUIRE_FALSE(late.ok());
  CHECK(late.error().reason == Reason::card_absent);
}

TEST_CASE("cancel_waits wakes a read waiting for a card") {
  pcscd();
  auto args = kZhang.args();
  args.push_back("--removed");
  VirtualCard card(0, args);
  CardService service(two_windows());
  auto waiting = std::async(std::launch::async, [&] { return service.read_card("W1", 30'000ms); });
  std::this_thread::sleep_for(200ms);
  service.cancel_waits();
  // Far less than the 30 s the read would otherwise wait.
  REQUIRE(waiting.wait_for(10s) == std::future_status::ready);
  auto r = waiting.get();
  REQUIRE_FALSE(r.ok());
  CHECK(errc_of(r.error()) == ReaderErrc::cancelled);
  auto later = service.read_card("W1", 5'000ms);
  REQUIRE_FALSE(later.ok());
  CHECK(errc_of(later.error()) == ReaderErrc::cancelled);
}

TEST_CASE("a card swapped for another between read and commit is detected") {
  pcscd();
  CardService service(two_windows());
  std::string first_sn;
  {
    VirtualCard first(0, kZhang.args());
    auto id = service.read_card("W1", 0ms);
    REQUIRE(id.ok());
    first_sn = id->card_sn;
    CHECK(service.check_same_card("W1", first_sn).ok());
    first.remove();
  }
  VirtualCard second(0, kOuyang.args());
  auto same = service.check_same_card("W1", first_sn);
  REQUIRE_FALSE(same.ok());
  CHECK(same.error().reason == Reason::card_mismatch);
  CHECK(service.check_same_card("W1", kOuyang.card_sn).ok());
  second.remove();
  auto gone = service.check_same_card("W1", kOuyang.card_sn);
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.error().reason == Reason::card_absent);
}

TEST_CASE("a swap faster than pcscd's poll is still caught by the card_sn re-check") {
  pcscd();
  CardService service(two_windows());
  auto first = std::make_unique<VirtualCard>(0, kZhang.args());
  auto id = service.read_card("W1", 0ms);
  REQUIRE(id.ok());
  // Pull the first card and put the second in without waiting: pcscd (which
  // polls vpcd about every 400 ms) may never report the reader empty.
  first->command("remove");
  auto second_args = kOuyang.args();
  VirtualCard second(0, second_args);
  auto same = service.check_same_card("W1", id->card_sn);
  REQUIRE_FALSE(same.ok());
  INFO(describe(same.error()));
  CHECK(same.error().reason == Reason::card_mismatch);
  // Once pcscd has caught up, the new card reads as itself.
  bool matched = false;
  for (int i = 0; i < 20 && !matched; ++i) {
    matched = service.check_same_card("W1", kOuyang.card_sn).ok();
    if (!matched) std::this_thread::sleep_for(100ms);
  }
  CHECK(matched);
  first.reset();
}

TEST_CASE("a window mapped to a reader that does not exist is READER_UNAVAILABLE") {
  pcscd();
  ReaderConfig c;
  c.window_readers = {{"W9", "No Such Reader 00 00"}};
  CardService service(c);
  auto id = service.read_card("W9", 0ms);
  REQUIRE_FALSE(id.ok());
  CHECK(id.error().reason == Reason::reader_unavailable);
  auto waited = service.read_card("W9", 500ms);
  REQUIRE_FALSE(waited.ok());
  CHECK(waited.error().reason == Reason::reader_unavailable);
  auto unknown = service.read_card("no-such-window", 0ms);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().reason == Reason::reader_unavailable);
  CHECK(unknown.error().field == "window");
}

TEST_CASE("malformed records and foreign cards are CARD_UNREADABLE") {
  pcscd();
  CardService service(two_windows());
  const auto seed = static_cast<unsigned>(std::random_device{}());
  INFO("virtual-card --seed ", seed);  // printed on failure: reproduces the garbage bytes
  for (const char* kind : {"tlv", "id-check", "gbk", "garbage", "no-app", "short"}) {
    auto args = kZhang.args();
    args.insert(args.end(), {"--malformed", kind, "--seed", std::to_string(seed)});
    VirtualCard card(0, args);
    auto id = service.read_card("W1", 0ms);
    REQUIRE_FALSE_MESSAGE(id.ok(), kind);
    CHECK_MESSAGE(id.error().reason == Reason::card_unreadable, kind, ": ", describe(id.error()));
  }
}

TEST_CASE("vpcd has no PIN pad: the pad path says so") {
  pcscd();
  VirtualCard card(0, kZhang.args());
  CardService service(two_windows());
  auto pad = service.has_pinpad("W1");
  REQUIRE_MESSAGE(pad.ok(), (pad.ok() ? "" : describe(pad.error())));
  CHECK_FALSE(*pad);
  auto v = service.verify_pin_on_pinpad("W1");
  REQUIRE_FALSE(v.ok());
  CHECK(v.error().reason == Reason::reader_unavailable);
}

TEST_CASE("the watcher reports a configured reader that does not exist as absent, and stops at once") {
  pcscd();
  VirtualCard a(0, kZhang.args());
  EventLog log;
  WatcherOptions opt;
  opt.poll_timeout = 30'000ms;  // stop() must not wait for this
  ReaderWatcher watcher({{"W1", a.reader()}, {"W9", "No Such Reader 00 00"}}, log.sink(), opt);
  watcher.start();
  REQUIRE_MESSAGE(log.wait_for(ReaderEvent::Kind::card_inserted, "W1", 5s), log.dump());
  auto snap = watcher.snapshot();
  REQUIRE(snap.size() == 2);
  CHECK(snap[0].window == "W1");
  CHECK(snap[0].reader_present);
  CHECK(snap[0].card_present);
  CHECK(snap[1].window == "W9");
  CHECK_FALSE(snap[1].reader_present);
  CHECK_FALSE(snap[1].card_present);
  CHECK(watcher.service_up());
  auto stopping = std::async(std::launch::async, [&] { watcher.stop(); });
  CHECK(stopping.wait_for(10s) == std::future_status::ready);  // SCardCancel, not the 30 s poll
}

TEST_CASE("the watcher reports inserts and removals, and survives a pcscd restart") {
  pcscd();
  VirtualCard a(0, kZhang.args());
  auto b_args = kOuyang.args();
  b_args.push_back("--removed");
  VirtualCard b(1, b_args);
  EventLog log;
  WatcherOptions opt;
  opt.poll_timeout = 1000ms;
  ReaderWatcher watcher(two_windows().window_readers, log.sink(), opt);
  watcher.start();
  using K = ReaderEvent::Kind;
  REQUIRE_MESSAGE(log.wait_for(K::card_inserted, "W1", 5s), log.dump());
  REQUIRE_MESSAGE(log.wait_for(K::reader_available, "W2", 5s), log.dump());

  log.checkpoint();
  b.insert(false);
  CHECK_MESSAGE(log.wait_for(K::card_inserted, "W2", 5s), log.dump());
  a.remove(false);
  CHECK_MESSAGE(log.wait_for(K::card_removed, "W1", 5s), log.dump());
  a.insert(false);
  CHECK_MESSAGE(log.wait_for(K::card_inserted, "W1", 5s), log.dump());
  auto snap = watcher.snapshot();
  REQUIRE(snap.size() == 2);
  CHECK(snap[0].window == "W1");
  CHECK(snap[0].card_present);
  CHECK(snap[1].card_present);

  // pcscd goes away under the watcher and a service that has a context.
  CardService service(two_windows());
  REQUIRE(service.read_card("W1", 0ms).ok());
  log.checkpoint();
  pcscd().stop();
  CHECK_MESSAGE(log.wait_for(K::card_removed, "W1", 5s), log.dump());
  CHECK_MESSAGE(log.wait_for(K::reader_unavailable, "W1", 5s), log.dump());
  CHECK_MESSAGE(log.wait_for(K::reader_unavailable, "W2", 5s), log.dump());
  auto down = service.read_card("W1", 0ms);
  REQUIRE_FALSE(down.ok());
  CHECK(down.error().reason == Reason::reader_unavailable);
  CHECK(errc_of(down.error()) == ReaderErrc::service_down);
  CHECK_FALSE(watcher.service_up());

  log.checkpoint();
  pcscd().start();  // the cards reconnect to the new vpcd by themselves
  CHECK_MESSAGE(log.wait_for(K::reader_available, "W1", 10s), log.dump());
  CHECK_MESSAGE(log.wait_for(K::card_inserted, "W1", 10s), log.dump());
  CHECK_MESSAGE(log.wait_for(K::card_inserted, "W2", 10s), log.dump());
  CHECK(watcher.service_up());
  REQUIRE(settle::testing::wait_card_state(a.reader(), true, 5s));
  auto after = service.read_card("W1", 0ms);
  REQUIRE_MESSAGE(after.ok(), (after.ok() ? "" : describe(after.error())));
  CHECK(after->card_sn == kZhang.card_sn);

  // Events still flow after the restart.
  log.checkpoint();
  b.remove(false);
  CHECK_MESSAGE(log.wait_for(K::card_removed, "W2", 5s), log.dump());
  const auto t0 = std::chrono::steady_clock::now();
  watcher.stop();
  INFO("stop took ", std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count(), " ms");
}
