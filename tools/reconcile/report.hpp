// The reconciliation report of tools/reconcile: the daemon's recon.run answer
// rendered as text for people and as a self-contained HTML page.
#pragma once

#include "protocol/json.hpp"

#include <string>

namespace settle::tools {

std::string recon_text(const json::Json& result);
std::string recon_html(const json::Json& result);
// The program's exit status for a recon.run answer (tools/common/exit_codes.hpp):
// chain_broken when its ledger_chain walk is not intact, else ok when
// balanced, else not_right.
int recon_exit_status(const json::Json& result);

}  // namespace settle::tools
