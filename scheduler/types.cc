#include "scheduler/types.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace triptych::scheduler {

const char* RoleName(NodeRole role) {
  switch (role) {
    case NodeRole::kPrefill:
      return "prefill";
    case NodeRole::kDecode:
      return "decode";
    case NodeRole::kMemory:
      return "memory";
  }
  return "unknown";
}

const char* StateName(NodeState state) {
  switch (state) {
    case NodeState::kHealthy:
      return "healthy";
    case NodeState::kSuspect:
      return "suspect";
    case NodeState::kDraining:
      return "draining";
    case NodeState::kDead:
      return "dead";
  }
  return "unknown";
}

const char* PolicyName(Policy policy) {
  switch (policy) {
    case Policy::kRoundRobin:
      return "round_robin";
    case Policy::kLeastLoaded:
      return "least_loaded";
    case Policy::kKvAware:
      return "kv_aware";
  }
  return "unknown";
}

absl::StatusOr<Policy> ParsePolicy(std::string_view name) {
  const std::string n = absl::StrReplaceAll(std::string(name), {{"-", "_"}});
  for (Policy p :
       {Policy::kRoundRobin, Policy::kLeastLoaded, Policy::kKvAware}) {
    if (n == PolicyName(p)) return p;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown routing policy '", n,
                   "' (expected round_robin, least_loaded or kv_aware)"));
}

}  // namespace triptych::scheduler
