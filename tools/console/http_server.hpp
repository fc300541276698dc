// The console's HTTPS server: the TLS listener, the routes of the HTTP
// contract (docs/console.md), the static pages, the event streams, the
// status poller on one anonymous daemon connection, and the clean stop.
#pragma once

#include <string>

namespace settle::console {

struct Config;

// Sets up TLS and the listener and serves until SIGTERM or SIGINT (every
// session logged out). Returns the exit status: 0 after a clean stop; a
// certificate, key or address that cannot be used is logged and returns 2.
int serve(const Config& config);

}  // namespace settle::console
