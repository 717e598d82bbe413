#include "arrowport/server/port_check.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

namespace arrowport::server {
namespace {

// A socket listening on a loopback port the kernel chose; closed at the end.
class HeldPort {
 public:
  HeldPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(::listen(fd_, 4), 0);
    socklen_t length = sizeof(address);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~HeldPort() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

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

TEST(PortCheck, AFreePortAndAnyPortPass) {
  int free_port = 0;
  {
    HeldPort held;
    free_port = held.port();
  }  // closed: nothing listens there now (SO_REUSEADDR as the listeners bind)
  EXPECT_TRUE(CheckPortFree("127.0.0.1", free_port, kFlightPortSetting).ok());
  EXPECT_TRUE(CheckPortFree("127.0.0.1", 0, kFlightPortSetting).ok());
}

}  // namespace
}  // namespace arrowport::server
