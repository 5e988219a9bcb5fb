#ifndef TRIPTYCH_COMMON_TESTING_CONFORMANCE_H_
#define TRIPTYCH_COMMON_TESTING_CONFORMANCE_H_

#include <cstdlib>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"

namespace triptych::testing {

// Directory of the shared conformance data: $TRIPTYCH_CONFORMANCE_DIR when
// set (a test bundle on another machine), else `../shared/conformance`
// relative to the source root. Empty when it does not exist.
std::string ConformanceDir();

// True when running under CI (environment CI=true), where missing shared data
// is a failure rather than a skip.
bool InCi();

}  // namespace triptych::testing

// Use at the top of a test body that needs ../shared/conformance. Declares
// `dir` (std::string). Skips with a message when the data is missing, except
// under CI=true, where it fails.
#define TRIPTYCH_REQUIRE_CONFORMANCE(dir)                                   \
  const std::string dir = ::triptych::testing::ConformanceDir();            \
  if (dir.empty()) {                                                        \
    if (::triptych::testing::InCi()) {                                      \
      FAIL() << "../shared/conformance is missing (required when CI=true)"; \
    }                                                                       \
    GTEST_SKIP() << "../shared/conformance not found; skipping";            \
  }

#endif  // TRIPTYCH_COMMON_TESTING_CONFORMANCE_H_
