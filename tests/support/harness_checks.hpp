// The checks the daemon harness makes (REQUIRE, REQUIRE_MESSAGE, CHECK_MESSAGE,
// FAIL): doctest's in tests; in the stack library the drill links
// (SETTLE_HARNESS_NO_DOCTEST) each failed check throws std::runtime_error.
#pragma once

#ifdef SETTLE_HARNESS_NO_DOCTEST
#include <sstream>
#include <stdexcept>

#define SETTLE_HARNESS_THROW_(what)                  \
  do {                                               \
    std::ostringstream settle_harness_os_;           \
    settle_harness_os_ << what;                      \
    throw std::runtime_error(settle_harness_os_.str()); \
  } while (0)
#define REQUIRE(cond)                                        \
  do {                                                       \
    if (!(cond)) SETTLE_HARNESS_THROW_("check failed: " #cond); \
  } while (0)
#define REQUIRE_MESSAGE(cond, msg)            \
  do {                                        \
    if (!(cond)) SETTLE_HARNESS_THROW_(msg); \
  } while (0)
#define CHECK_MESSAGE(cond, msg) REQUIRE_MESSAGE(cond, msg)
#define FAIL(msg) SETTLE_HARNESS_THROW_(msg)
#else
#include <doctest/doctest.h>
#endif
