#include "runtime/jinja/template.h"

#include "absl/status/status.h"
#include "runtime/jinja/interpreter.h"

namespace triptych::jinja {

absl::StatusOr<std::unique_ptr<Template>> Template::Parse(std::string_view source, Limits limits) {
  auto root = ParseTemplate(source, limits.parse);
  if (!root.ok()) return root.status();
  return std::unique_ptr<Template>(new Template(std::move(*root), limits));
}

absl::StatusOr<std::string> Template::Render(const Value& context, const RenderOptions& options) const {
  if (!context.is_dict() && !context.is_undefined())
    return absl::InvalidArgumentError("template context must be a dict");
  Interpreter interp(limits_, options, context);
  return interp.RenderRoot(root_);
}

absl::StatusOr<RenderedText> Template::RenderWithProvenance(const Value& context,
                                                            const RenderOptions& options) const {
  if (!context.is_dict() && !context.is_undefined())
    return absl::InvalidArgumentError("template context must be a dict");
  Interpreter interp(limits_, options, context);
  return interp.RenderRootWithProvenance(root_);
}

}  // namespace triptych::jinja
