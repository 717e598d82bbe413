#pragma once

// A MinIO server as a child process: the real S3 store that the S3 unit tests and
// `arrowport bench --only lake` run against (never linked into `arrowport`).

#include <sys/types.h>

#include <memory>
#include <string>

#include "arrow/result.h"
#include "arrowport/objectstore/object_store.h"

namespace arrowport::test_support {

using objectstore::S3Settings;


/// A free TCP port on 127.0.0.1 (bound, then released), or 0.
int FreeLoopbackPort();

/// \brief MinIO on a free loopback port, its data in a temporary directory, with one
/// bucket created. Stopped (SIGTERM, then SIGKILL) and its directory removed on
/// destruction; killed with this process even when it crashes.
class MinioServer {
 public:
  /// ARROWPORT_MINIO, the toolchain's `go install` location
  /// (/var/cache/arrowport/go/bin/minio) or `minio` on PATH; "" when there is none.
  static std::string FindBinary();
  /// Starts `binary` with root credentials `user`/`secret` and waits (up to 30 s) until
  /// it has created `bucket`; the error names MinIO's log when it does not come up.
  static arrow::Result<std::unique_ptr<MinioServer>> Start(const std::string& binary,
                                                           const std::string& user,
                                                           const std::string& secret,
                                                           const std::string& bucket);
  ~MinioServer();
  MinioServer(const MinioServer&) = delete;
  MinioServer& operator=(const MinioServer&) = delete;

  /// Settings that reach it as its root user (path-style URLs, 5 MiB parts).
  S3Settings Settings() const;
  const std::string& endpoint() const { return endpoint_; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  MinioServer() = default;
  arrow::Status AwaitBucket(const std::string& bucket);

  pid_t pid_ = -1;
  int port_ = 0;
  std::string dir_, endpoint_, user_, secret_;
};

}  // namespace arrowport::test_support
