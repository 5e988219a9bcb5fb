#include "runtime/grammar/output_constraint.h"

namespace triptych::grammar {

const char* ConstraintKindName(ConstraintKind kind) {
  switch (kind) {
    case ConstraintKind::kNone:
      return "none";
    case ConstraintKind::kJsonObject:
      return "json_object";
    case ConstraintKind::kJsonSchema:
      return "json_schema";
  }
  return "unknown";
}

}  // namespace triptych::grammar
