// The checks the daemon harness makes (REQUIRE, REQUIRE_MESSAGE, CHECK_MESSAGE,
// FAIL): each failed check throws std::runtime_error with its message, which a
// doctest test reports as its failure and a tool (the drill, the bench) prints.
#pragma once

#include <sstream>
#include <stdexcept>

#define SETTLE_HARNESS_THROW_(what)                     \
  do {                                                  \
    std::ostringstream settle_harness_os_;              \
    settle_harness_os_ << what;                         \
    throw std::runtime_error(settle_harness_os_.str()); \
  } while (0)
#define REQUIRE(cond)                                           \
  do {                                                          \
    if (!(cond)) SETTLE_HARNESS_THROW_("check failed: " #cond); \
  } while (0)
#define REQUIRE_MESSAGE(cond, msg)            \
  do {                                        \
    if (!(cond)) SETTLE_HARNESS_THROW_(msg); \
  } while (0)
#define CHECK_MESSAGE(cond, msg) REQUIRE_MESSAGE(cond, msg)
#define FAIL(msg) SETTLE_HARNESS_THROW_(msg)
