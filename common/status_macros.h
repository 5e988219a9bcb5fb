#ifndef TRIPTYCH_COMMON_STATUS_MACROS_H_
#define TRIPTYCH_COMMON_STATUS_MACROS_H_

// RETURN_IF_ERROR / ASSIGN_OR_RETURN for absl::Status and absl::StatusOr.
// Abseil 20220623 (Debian 12) ships neither, so the project defines them once here.

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define TRIPTYCH_CONCAT_INNER_(a, b) a##b
#define TRIPTYCH_CONCAT_(a, b) TRIPTYCH_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status) and returns it from the enclosing
// function when it is not OK.
#define RETURN_IF_ERROR(expr)                            \
  do {                                                   \
    ::absl::Status triptych_status_ = (expr);            \
    if (!triptych_status_.ok()) return triptych_status_; \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>); on
// error returns its status, else moves the value into `lhs` (which may be a
// declaration such as `auto x`).
#define ASSIGN_OR_RETURN(lhs, expr) \
  TRIPTYCH_ASSIGN_OR_RETURN_IMPL_(  \
      TRIPTYCH_CONCAT_(triptych_statusor_, __LINE__), lhs, expr)

#define TRIPTYCH_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                    \
  if (!statusor.ok()) return std::move(statusor).status();   \
  lhs = std::move(statusor).value()

#endif  // TRIPTYCH_COMMON_STATUS_MACROS_H_
