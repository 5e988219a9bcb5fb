#include "services/node/yaml_config.h"

#include <memory>
#include <sstream>

#include "yaml-cpp/yaml.h"

namespace triptych::node {

std::string YamlConfig::to_config(const CLI::App* app, bool default_also,
                                  bool /*write_description*/, std::string /*prefix*/) const {
  YAML::Emitter out;
  out << YAML::BeginMap;
  for (const CLI::Option* opt : app->get_options()) {
    if (opt->get_lnames().empty() || !opt->get_configurable()) continue;
    const std::string value = opt->as<std::string>();
    if (value.empty() && !default_also) continue;
    out << YAML::Key << opt->get_lnames()[0] << YAML::Value << value;
  }
  out << YAML::EndMap;
  return out.c_str();
}

std::vector<CLI::ConfigItem> YamlConfig::from_config(std::istream& input) const {
  std::vector<CLI::ConfigItem> items;
  YAML::Node root;
  try {
    root = YAML::Load(input);
  } catch (const YAML::Exception& e) {
    throw CLI::ConversionError(std::string("invalid YAML config: ") + e.what());
  }
  if (!root.IsDefined() || root.IsNull()) return items;
  if (!root.IsMap()) throw CLI::ConversionError("YAML config must be a mapping of flag: value");
  for (const auto& kv : root) {
    CLI::ConfigItem item;
    item.name = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    if (v.IsSequence()) {
      for (const auto& e : v) item.inputs.push_back(e.as<std::string>());
    } else if (v.IsScalar()) {
      item.inputs.push_back(v.as<std::string>());
    } else {
      throw CLI::ConversionError("config key '" + item.name + "' must be a scalar or a list");
    }
    items.push_back(std::move(item));
  }
  return items;
}

void AddYamlConfig(CLI::App& app) {
  app.config_formatter(std::make_shared<YamlConfig>());
  app.set_config("--config", "", "YAML file with flag values (flags override it)");
}

}  // namespace triptych::node
