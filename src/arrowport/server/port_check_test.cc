#include "arrowport/server/port_check.h"

#include <gtest/gtest.h>

#include <string>

#include "arrowport/test_support/loopback_listener.h"

namespace arrowport::server {
namespace port_check_test {

using arrowport::test_support::LoopbackListener;

TEST(PortCheck, APortInUseIsNamedWithTheFlagTheVariableAndTheKey) {
  LoopbackListener held;
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

}  // namespace port_check_test
}  // namespace arrowport::server
