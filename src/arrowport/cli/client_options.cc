#include "arrowport/cli/client_options.h"

#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdlib>
#include <string>

namespace arrowport::cli {

const char* const kClientAuthHelp =
    "A server with authentication on: set ARROWPORT_USER and ARROWPORT_PASSWORD (sent "
    "once, exchanged for a token over Flight; Basic on each HTTP request).";

void AddConnectWaitOption(CLI::App* command, double& seconds) {
  command
      ->add_option("--connect-wait", seconds,
                   "Seconds to wait for a server that refuses connections (one still "
                   "starting) or has not answered yet (at least 5 s); 0: fail at once "
                   "when refused")
      ->envname("ARROWPORT_CONNECT_WAIT")
      // A plain finite number: "nan" passed the range check (every comparison with it is
      // false) and meant 0.
      ->check(CLI::Validator(
          [](std::string& input) -> std::string {
            char* end = nullptr;
            const double value = std::strtod(input.c_str(), &end);
            if (input.empty() || *end != '\0' || !std::isfinite(value)) {
              return "'" + input + "' is not a number of seconds";
            }
            return std::string();
          },
          "SECONDS"))
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
}

}  // namespace arrowport::cli
