// Config files: YAML text through the same parse and validation as `arrowport serve`.
#include <cstddef>
#include <cstdint>
#include <string>

#include "arrowport/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto config = arrowport::config::ParseYaml(text, "fuzz.yaml");
  if (config.ok()) {
    (void)arrowport::config::Validate(*config);
    (void)arrowport::config::RouteFor(*config, "events");
  }
  return 0;
}
