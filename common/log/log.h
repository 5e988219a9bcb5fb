#ifndef TRIPTYCH_COMMON_LOG_LOG_H_
#define TRIPTYCH_COMMON_LOG_LOG_H_

// Structured logs: one JSON object per line on stderr with a timestamp,
// level, component and message plus free-form fields (request ids above
// all, so one request can be followed across gateway, scheduler, prefill
// and decode logs). Thread-safe; a line is written with one call.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace triptych::log {

using Value = std::variant<std::string, int64_t, double, bool>;
using Field = std::pair<std::string_view, Value>;

void Event(std::string_view level, std::string_view component, std::string_view msg,
           std::initializer_list<Field> fields = {});

inline void Info(std::string_view component, std::string_view msg,
                 std::initializer_list<Field> fields = {}) {
  Event("info", component, msg, fields);
}
inline void Warn(std::string_view component, std::string_view msg,
                 std::initializer_list<Field> fields = {}) {
  Event("warn", component, msg, fields);
}

}  // namespace triptych::log

#endif  // TRIPTYCH_COMMON_LOG_LOG_H_
