// The raw operations a settlement's floor is made of, measured by the bench
// itself: PC/SC APDU sequences replayed without the card module, the CPU a
// thread spends, and the JSON work of one cashier request and answer.
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

}  // namespace settle::bench::raw
