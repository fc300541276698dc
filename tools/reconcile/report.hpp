// The reconciliation report of tools/reconcile: the daemon's recon.run answer
// rendered as text for people and as a self-contained HTML page.
#pragma once

#include "protocol/json.hpp"

#include <string>

namespace settle::tools {

std::string recon_text(const json::Json& result);
std::string recon_html(const json::Json& result);

}  // namespace settle::tools
