// Where an installed settled and its clients meet by default: the cashier
// socket in the daemon's runtime folder (systemd's RuntimeDirectory=settled,
// group settle-clients). An explicit [cashier] socket or --socket overrides it.
#pragma once

namespace settle {
inline constexpr const char* default_cashier_socket = "/run/settled/cashier.sock";
}  // namespace settle
