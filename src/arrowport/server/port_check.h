#pragma once

#include <string>

#include "arrow/status.h"

namespace arrowport::server {

/// How a user chooses one listener's port, named in the error when it is taken.
struct PortSetting {
  const char* listener;  ///< "Flight", "HTTP", "metrics"
  const char* flag;      ///< "--flight-port"
  const char* env;       ///< "ARROWPORT_FLIGHT_PORT"
  const char* key;       ///< "flight.port"
};

/// \brief Binds `host`:`port` for a moment to learn whether a listener could: OK when it
/// could (or `port` is 0), else an error naming the port and how to pick another ("port
/// 8815 is in use: pass --flight-port or set ARROWPORT_FLIGHT_PORT"). Checked before the
/// database opens and before gRPC binds, so that a second server on the default ports
/// fails at once with that line instead of gRPC's own dump.
arrow::Status CheckPortFree(const std::string& host, int port, const PortSetting& setting);

inline constexpr PortSetting kFlightPortSetting{"Flight", "--flight-port",
                                                "ARROWPORT_FLIGHT_PORT", "flight.port"};
inline constexpr PortSetting kHttpPortSetting{"HTTP", "--http-port", "ARROWPORT_HTTP_PORT",
                                              "http.port"};
inline constexpr PortSetting kMetricsPortSetting{"metrics", "--metrics-port",
                                                 "ARROWPORT_METRICS_PORT", "metrics.port"};

}  // namespace arrowport::server
