// arrowport bench --only tls: the same reads over TLS and in the clear, in one run.
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <algorithm>
#include <utility>
#include <vector>
#include <string>

#include "arrow/table.h"
#include "arrowport/bench/bench.h"
#include "arrowport/bench/bench_support.h"
#include "arrowport/cli/client.h"
#include "arrowport/cli/generate.h"
#include "arrowport/http/openssl_handle.h"

namespace arrowport::bench {

namespace {

using KeyHandle = http::OpenSslHandle<EVP_PKEY, EVP_PKEY_free>;
using X509Handle = http::OpenSslHandle<X509, X509_free>;
using ExtensionHandle = http::OpenSslHandle<X509_EXTENSION, X509_EXTENSION_free>;

// A P-256 key and a self-signed certificate for 127.0.0.1 and localhost, as PEM files in
// `dir`: the server's identity and, for the clients, the CA to trust.
arrow::Result<config::Config::Tls> SelfSignedIdentity(const std::filesystem::path& dir) {
  KeyHandle key(EVP_EC_gen("P-256"));
  X509Handle cert(X509_new());
  if (!key || !cert) return arrow::Status::IOError("OpenSSL: cannot make a key");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), subject);
  X509_set_pubkey(cert.get(), key.get());
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  ExtensionHandle names(X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name,
                                            "IP:127.0.0.1,DNS:localhost"));
  if (!names || X509_add_ext(cert.get(), names.get(), -1) != 1 ||
      X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return arrow::Status::IOError("OpenSSL: cannot sign the certificate");
  }
  config::Config::Tls tls{(dir / "bench-tls.pem").string(), (dir / "bench-tls.key").string(), ""};
  auto write = [](const std::string& path, auto&& pem) -> arrow::Status {
    // Owner-only from the start: one of them is a private key.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE* f = fd < 0 ? nullptr : ::fdopen(fd, "w");
    if (f == nullptr) {
      if (fd >= 0) ::close(fd);
      return arrow::Status::IOError("cannot write ", path);
    }
    const bool written = pem(f) == 1;
    const bool closed = std::fclose(f) == 0;
    return written && closed ? arrow::Status::OK() : arrow::Status::IOError("cannot write ", path);
  };
  ARROW_RETURN_NOT_OK(write(tls.cert, [&](FILE* f) { return PEM_write_X509(f, cert.get()); }));
  ARROW_RETURN_NOT_OK(write(tls.key, [&](FILE* f) {
    return PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  }));
  return tls;
}

// One row of the table: the same read in the clear ([0]) and over TLS ([1]).
struct ReadPair {
  const char* what;
  std::unique_ptr<DataClient> clients[2];
  double best[2] = {1e300, 1e300};
};

// Reads the table through every client, round by round (so that all meet the machine's
// good and bad spells alike), the clear and TLS reads in turn first; each client reads
// once unmeasured before (connection and handshake).
arrow::Status MeasureReads(std::vector<ReadPair>& pairs, int repeat, int64_t rows) {
  for (int round = -1; round < repeat; ++round) {
    for (auto& pair : pairs) {
      for (int turn = 0; turn < 2; ++turn) {
        const int secure = (turn + std::max(round, 0)) % 2;
        int64_t read = 0;
        ARROW_ASSIGN_OR_RAISE(const double seconds, SecondsOf([&]() -> arrow::Status {
                                ARROW_ASSIGN_OR_RAISE(auto reader, pair.clients[secure]->Get(
                                                                       R"({"table": "bench"})"));
                                ARROW_ASSIGN_OR_RAISE(read, Drain(reader.get()));
                                return arrow::Status::OK();
                              }));
        if (read != rows) {
          return arrow::Status::Invalid(pair.what, " read ", read, " rows of ", rows);
        }
        if (round >= 0) pair.best[secure] = std::min(pair.best[secure], seconds);
      }
    }
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Status BenchTls(const BenchOptions& options, const std::string& db_path) {
  const int64_t rows = *std::max_element(options.rows.begin(), options.rows.end());
  ARROW_ASSIGN_OR_RAISE(auto table, MakeBenchTable(rows, options.batch_rows, false));
  const auto dir = std::filesystem::path(db_path).parent_path();
  ARROW_ASSIGN_OR_RAISE(auto tls, SelfSignedIdentity(dir));
  // The identity and the second database go whatever the outcome.
  struct Cleanup {
    config::Config::Tls tls;
    std::string db;
    ~Cleanup() {
      std::error_code ignored;
      std::filesystem::remove(tls.cert, ignored);
      std::filesystem::remove(tls.key, ignored);
      RemoveDatabaseFiles(db);
    }
  } cleanup{tls, db_path + ".tls"};
  // Two servers, each with the table, and Arrow Flight's own server of the in-memory
  // table (the ceiling: none of our code), in the clear and over TLS.
  ARROW_ASSIGN_OR_RAISE(auto plain, StartBenchServer(db_path));
  ARROW_ASSIGN_OR_RAISE(auto secured, StartBenchServer(db_path + ".tls", {}, true, 0, tls));
  ARROW_ASSIGN_OR_RAISE(auto plain_flight, InMemoryFlightServer::Start(table));
  ARROW_ASSIGN_OR_RAISE(auto secured_flight, InMemoryFlightServer::Start(table, tls));
  std::vector<ReadPair> pairs(3);  // after the servers: the clients go first
  pairs[0].what = "ceiling: plain Flight DoGet of the in-memory table, grpc / grpc+tls";
  ARROW_ASSIGN_OR_RAISE(pairs[0].clients[0], ConnectDataClient(plain_flight->uri()));
  ARROW_ASSIGN_OR_RAISE(pairs[0].clients[1], ConnectDataClient(secured_flight->uri(), tls.cert));
  pairs[1].what = "Flight DoGet, grpc / grpc+tls";
  pairs[2].what = "HTTP POST /query (Arrow), http / https";
  for (int secure = 0; secure < 2; ++secure) {
    auto* srv = secure ? secured.get() : plain.get();
    const std::string ca = secure ? tls.cert : "";
    ARROW_ASSIGN_OR_RAISE(pairs[1].clients[secure], ConnectDataClient(srv->flight_uri(), ca));
    ARROW_RETURN_NOT_OK(pairs[1].clients[secure]
                            ->Put(R"({"stream": "bench", "mode": "replace"})",
                                  std::make_shared<arrow::TableBatchReader>(table))
                            .status());
    ARROW_ASSIGN_OR_RAISE(pairs[2].clients[secure], ConnectDataClient(srv->http_uri(), ca));
  }
  ARROW_RETURN_NOT_OK(MeasureReads(pairs, options.repeat, rows));
  std::printf("\n| reads over TLS, %lld rows x 5 columns, best of %d | rows/s, clear / TLS "
              "| TLS over clear |\n",
              static_cast<long long>(rows), options.repeat);
  std::printf("|---|---:|---:|\n");
  auto rate = [&](double seconds) { return static_cast<double>(rows) / seconds / 1e6; };
  for (const auto& pair : pairs) {
    std::printf("| %s | %.2f M / %.2f M | %.2f x |\n", pair.what, rate(pair.best[0]),
                rate(pair.best[1]), pair.best[0] / pair.best[1]);
  }
  // Our read's rate over Arrow Flight's own in each mode. Its server sends the table's
  // client batches (--batch-rows); ours sends DuckDB's.
  std::printf("\nFlight DoGet: %.2f x the ceiling over grpc+tls, %.2f x in the clear "
              "(the ceiling streams %lld-row batches)\n",
              pairs[0].best[1] / pairs[1].best[1], pairs[0].best[0] / pairs[1].best[0],
              static_cast<long long>(options.batch_rows));
  std::fflush(stdout);
  pairs.clear();  // clients before their servers
  ARROW_RETURN_NOT_OK(plain->Shutdown());
  ARROW_RETURN_NOT_OK(secured->Shutdown());
  ARROW_RETURN_NOT_OK(plain_flight->Shutdown());
  ARROW_RETURN_NOT_OK(secured_flight->Shutdown());
  return arrow::Status::OK();
}

}  // namespace arrowport::bench
