// The raw operations the settle and offline sections weigh the daemon
// against: PC/SC replays (shared with the card section), thread CPU, the
// cashier JSON of one settlement.
#include "tools/bench/raw_ops.hpp"

#include <condition_variable>
#include <ctime>
#include <mutex>
#include <thread>

namespace settle::bench::raw {

const Script kReadScript{
    {0x00, 0xA4, 0x04, 0x00, 0x0F, 0x73, 0x78, 0x31, 0x2E, 0x73, 0x68, 0x2E, 0xC9, 0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF},
    {0x00, 0xC0, 0x00, 0x00, 0x13},
    {0x00, 0xA4, 0x00, 0x00, 0x02, 0xEF, 0x05},
    {0x00, 0xB2, 0x01, 0x04, 0x12},
    {0x00, 0xB2, 0x02, 0x04, 0x03},
    {0x00, 0xB2, 0x07, 0x04, 0x0B},
    {0x00, 0xA4, 0x00, 0x00, 0x02, 0xEF, 0x06},
    {0x00, 0xB2, 0x08, 0x04, 0x14},
    {0x00, 0xB2, 0x09, 0x04, 0x20},
    {0x00, 0xB2, 0x0A, 0x04, 0x03},
    {0x00, 0xB2, 0x0D, 0x04, 0x06},
};
const Script kPinScript{
    kReadScript[0],
    kReadScript[1],
    {0x00, 0x20, 0x00, 0x00, 0x03, 0x12, 0x34, 0x56},
};
const Script kRecheckScript{kReadScript[0], kReadScript[1], kReadScript[2], kReadScript[3]};

bool replay(SCARDCONTEXT ctx, const std::string& reader, const Script& script) {
  SCARDHANDLE h = 0;
  DWORD proto = 0;
  if (SCardConnect(ctx, reader.c_str(), SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &h, &proto) !=
      SCARD_S_SUCCESS)
    return false;
  const SCARD_IO_REQUEST* pci = proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
  bool ok = SCardBeginTransaction(h) == SCARD_S_SUCCESS;
  for (const auto& apdu : script) {
    if (!ok) break;
    unsigned char out[258];
    DWORD len = sizeof out;
    ok = SCardTransmit(h, pci, apdu.data(), static_cast<DWORD>(apdu.size()), nullptr, out, &len) == SCARD_S_SUCCESS &&
         len >= 2 && (out[len - 2] == 0x90 || out[len - 2] == 0x61);
  }
  SCardEndTransaction(h, SCARD_LEAVE_CARD);
  SCardDisconnect(h, SCARD_LEAVE_CARD);
  return ok;
}

double thread_cpu_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1000.0 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double cashier_json_cpu_ms(const std::string& request_text, const json::Json& answer, int n) {
  std::size_t keep = 0;  // so that the work is not optimised away
  const double t0 = thread_cpu_ms();
  for (int i = 0; i < n; ++i) {
    const json::Json req = json::Json::parse(request_text);
    keep += req.size();
    keep += json::Json{{"jsonrpc", "2.0"}, {"id", i}, {"result", answer}}.dump().size();
  }
  const double t1 = thread_cpu_ms();
  return keep > 0 ? (t1 - t0) / n : 0.0;
}

double handoff_round_trip_cpu_us(int n) {
  std::mutex mu;
  std::condition_variable cv;
  bool worker_turn = false;
  const auto process_cpu_us = [] {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
  };
  // The worker thread exists before the clock starts: only the hand-offs are counted.
  std::thread worker([&] {
    for (int i = 0; i < n; ++i) {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return worker_turn; });
      worker_turn = false;
      cv.notify_one();
    }
  });
  const double t0 = process_cpu_us();
  for (int i = 0; i < n; ++i) {
    std::unique_lock lock(mu);
    worker_turn = true;
    cv.notify_one();
    cv.wait(lock, [&] { return !worker_turn; });
  }
  const double t1 = process_cpu_us();
  worker.join();
  return n > 0 ? (t1 - t0) / n : 0.0;
}

}  // namespace settle::bench::raw
