#ifndef TRIPTYCH_SERVICES_NODE_YAML_CONFIG_H_
#define TRIPTYCH_SERVICES_NODE_YAML_CONFIG_H_

// Lets every service binary read its flags from an optional YAML file
// (`--config FILE`): a flat mapping of flag names (without dashes) to
// scalars or lists, e.g.
//   port: 8001
//   model: /models/tinyllama.gguf
// Command-line flags override the file.

#include "CLI/CLI.hpp"

namespace triptych::node {

class YamlConfig : public CLI::Config {
 public:
  std::string to_config(const CLI::App* app, bool default_also, bool write_description,
                        std::string prefix) const override;
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;
};

// Adds --config to `app` with the YAML reader.
void AddYamlConfig(CLI::App& app);

}  // namespace triptych::node

#endif  // TRIPTYCH_SERVICES_NODE_YAML_CONFIG_H_
