#pragma once

namespace CLI {
class App;
}

// What every command that talks to a server shares on its command line.
namespace arrowport::cli {

inline constexpr const char* kDefaultServer = "grpc://localhost:8815";

/// Adds `--connect-wait SECONDS` (ARROWPORT_CONNECT_WAIT) to a client command: how long it
/// waits for a server that refuses connections (one still starting).
void AddConnectWaitOption(CLI::App* command, double& seconds);

/// The help's footer of commands that talk to a server: how they sign in.
extern const char* const kClientAuthHelp;

}  // namespace arrowport::cli
