// The raw operations a settlement's floor is made of, measured by the bench
// itself: PC/SC APDU sequences replayed without the card module, the CPU a
// thread spends, the JSON work of one cashier request and answer, and a
// hand-off between two threads.
#pragma once

#include "protocol/json.hpp"

#include <PCSC/winscard.h>

#include <string>
#include <vector>

namespace settle::bench::raw {

using Script = std::vector<std::vector<unsigned char>>;

// The sequences the card module sends for the default profile (SELECT
// answers 61 13): the full read, the PIN check and the card_sn re-check.
extern const Script kReadScript;
extern const Script kPinScript;
extern const Script kRecheckScript;

// Connect, transaction, each APDU, end, disconnect: what the module does,
// without its checks. False if any APDU does not end in 9000/61xx.
bool replay(SCARDCONTEXT ctx, const std::string& reader, const Script& script);

// CPU time of the calling thread, in milliseconds (CLOCK_THREAD_CPUTIME_ID).
double thread_cpu_ms();

// The JSON the daemon handles per settle.commit, done raw: the request's
// text parsed and the answer's Json written as text, `n` times; the CPU of
// one pair in milliseconds.
double cashier_json_cpu_ms(const std::string& request_text, const json::Json& answer, int n);

// A hand-off between two threads and back, `n` times (a mutex and a
// condition variable, each side waiting for its turn): the CPU of both
// threads for one round trip, in microseconds. What this machine charges for
// each time a settlement moves from settled's event loop to a worker thread
// and back (two context switches); no target, a figure to read the others by.
double handoff_round_trip_cpu_us(int n);

}  // namespace settle::bench::raw
