#include "common/log/log.h"

#include <cstdio>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace triptych::log {

void Event(std::string_view level, std::string_view component, std::string_view msg,
           std::initializer_list<Field> fields) {
  nlohmann::json line = {
      {"ts", absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone())},
      {"level", std::string(level)},
      {"component", std::string(component)},
      {"msg", std::string(msg)}};
  for (const auto& [key, value] : fields) {
    std::visit([&](const auto& v) { line[std::string(key)] = v; }, value);
  }
  // Replace invalid UTF-8 rather than throw: values may come from requests.
  const std::string text =
      line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::fwrite(text.data(), 1, text.size(), stderr);
}

}  // namespace triptych::log
