#include "common/testing/conformance.h"

#include <cstring>

namespace triptych::testing {

std::string ConformanceDir() {
  // A bundle carried to another machine (bench/gpu.sh) names it.
  if (const char* env = std::getenv("TRIPTYCH_CONFORMANCE_DIR");
      env != nullptr && *env) {
    std::error_code ec;
    if (std::filesystem::is_directory(env, ec)) return env;
  }
  // Tests run with the source root as working directory (see
  // triptych_test()); TRIPTYCH_SOURCE_DIR covers running a binary by hand.
  for (const std::string base : {std::string("."), std::string(TRIPTYCH_SOURCE_DIR)}) {
    std::filesystem::path p = std::filesystem::path(base) / ".." / "shared" / "conformance";
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) return p.lexically_normal().string();
  }
  return "";
}

bool InCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::strcmp(ci, "true") == 0;
}

}  // namespace triptych::testing
