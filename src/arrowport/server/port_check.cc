#include "arrowport/server/port_check.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "arrow/util/uri.h"

namespace arrowport::server {

namespace {

struct ProbeAddrInfoFree {
  void operator()(addrinfo* info) const { freeaddrinfo(info); }
};

// errno of binding one address as the listeners do (SO_REUSEADDR, no SO_REUSEPORT): 0 when
// it could be bound.
int TryBindLikeListener(const addrinfo& address) {
  const int fd = ::socket(address.ai_family, address.ai_socktype | SOCK_CLOEXEC,
                          address.ai_protocol);
  if (fd < 0) return errno;
  int yes = 1;
  (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  const int error = ::bind(fd, address.ai_addr, address.ai_addrlen) == 0 ? 0 : errno;
  ::close(fd);
  return error;
}

}  // namespace

arrow::Status CheckPortFree(const std::string& host, int port, const PortSetting& setting) {
  if (port <= 0) return arrow::Status::OK();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  const std::string where = arrow::util::UriEncodeHost(host) + ":" + service;
  const int resolved = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(),
                                     &hints, &found);
  // An address that does not resolve is left to the listener, which says so itself.
  if (resolved != 0) return arrow::Status::OK();
  std::unique_ptr<addrinfo, ProbeAddrInfoFree> owner(found);
  const std::string choose = std::string("pass ") + setting.flag + " N (0 = any free port) or set " +
                             setting.env + " (config: " + setting.key + ")";
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int error = TryBindLikeListener(*a);
    if (error == EADDRINUSE) {
      return arrow::Status::IOError("cannot listen for ", setting.listener, " on ", where,
                                    ": port ", port,
                                    " is in use (another Arrowport server, or another "
                                    "program): ",
                                    choose);
    }
    if (error == EACCES) {
      return arrow::Status::IOError("cannot listen for ", setting.listener, " on ", where,
                                    ": port ", port,
                                    " needs privileges this process does not have: ", choose);
    }
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::server
