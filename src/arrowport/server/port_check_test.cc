#include "arrowport/server/port_check.h"

#include <gtest/gtest.h>

#include <string>

#include "arrowport/test_support/held_port.h"

namespace arrowport::server {
namespace {

using arrowport::test_support::HeldPort;

TEST(PortCheck, APortInUseIsNamedWithTheFlagTheVariableAndTheKey) {
  HeldPort held;
  const auto st = CheckPortFree("127.0.0.1", held.port(), kHttpPortSetting);
  ASSERT_FALSE(st.ok());
  const std::string port = std::to_string(held.port());
  EXPECT_EQ(st.message(), "cannot listen for HTTP on 127.0.0.1:" + port + ": port " + port +
                              " is in use (another Arrowport server, or another program): "
                              "pass --http-port N (0 = any free port) or set "
                              "ARROWPORT_HTTP_PORT (config: http.port)");
  const auto flight = CheckPortFree("127.0.0.1", held.port(), kFlightPortSetting);
  EXPECT_NE(flight.message().find("for Flight"), std::string::npos) << flight.message();
  EXPECT_NE(flight.message().find("--flight-port"), std::string::npos) << flight.message();
  EXPECT_NE(flight.message().find("ARROWPORT_FLIGHT_PORT"), std::string::npos);
  const auto metrics = CheckPortFree("127.0.0.1", held.port(), kMetricsPortSetting);
  EXPECT_NE(metrics.message().find("--metrics-port"), std::string::npos) << metrics.message();
}

TEST(PortCheck, AnyPortPasses) {
  // (A port just freed is not asserted free: another test may take it meanwhile.)
  EXPECT_TRUE(CheckPortFree("127.0.0.1", 0, kFlightPortSetting).ok());
}

}  // namespace
}  // namespace arrowport::server
