// The daemon's log: spdlog to stderr (journald adds the time), through one
// redacting sink that masks anything shaped like an ID number, as a net
// under the code's own masking (card numbers partly, PINs never logged).
#pragma once

#include <string>
#include <string_view>

namespace settle::daemon {

// Masks every 18-character ID number in `text` (17 digits and a digit or X)
// as 110101********123X.
std::string redact(std::string_view text);

// Installs the redacting logger as spdlog's default, at `level`.
void setup_logging(const std::string& level);

}  // namespace settle::daemon
