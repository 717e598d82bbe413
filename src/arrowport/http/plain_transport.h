#pragma once

#include "arrowport/http/transport.h"

namespace arrowport::http {

/// \brief Plain TCP: recv and send with MSG_DONTWAIT (and MSG_NOSIGNAL: a client that
/// left never raises SIGPIPE).
class PlainTransport : public Transport {
 public:
  explicit PlainTransport(int fd) : fd_(fd) {}
  Io Read(char* data, size_t size) override;
  Io Write(const char* data, size_t size) override;

 private:
  const int fd_;
};

}  // namespace arrowport::http
