#include "arrowport/flight/transfer.h"

#include <arrow/flight/client.h>
#include <arrow/flight/types_async.h>
#include <arpa/inet.h>
#include <fnmatch.h>
#include <nlohmann/json.hpp>

#include <strings.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <chrono>
#include <limits>
#include <optional>
#include <mutex>
#include <vector>

#include "arrow/record_batch.h"
#include "arrow/util/uri.h"
#include "arrowport/common/ca_certificates.h"
#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/flight/transfer_peer.h"

namespace arrowport::flight {

namespace fl = arrow::flight;
using json = nlohmann::json;

void TransferPolicy::Update(config::Config::Transfer settings) {
  std::lock_guard<std::mutex> lock(mutex_);
  settings_ = std::move(settings);
}

namespace {

// An IPv6 address (bracketed or not) in its one canonical text ("::1" for
// "0:0:0:0:0:0:0:1"); nullopt for anything else (a zone id "%eth0" included).
std::optional<std::string> CanonicalIpv6(std::string host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  in6_addr address{};
  if (::inet_pton(AF_INET6, host.c_str(), &address) != 1) return std::nullopt;
  char text[INET6_ADDRSTRLEN];
  if (::inet_ntop(AF_INET6, &address, text, sizeof(text)) == nullptr) return std::nullopt;
  return std::string(text);
}

// `host_port` against one allowed_peers pattern: the ports equal (or the pattern's is
// `*`), and the hosts have as many dot-separated labels, each matching its pattern label
// (`*` and `?` never span a dot: "10.0.0.*" is no pattern for "10.0.0.1.example.com").
// An IPv6 host ([::1]) is matched by `*` or by the same address, however written.
bool PeerMatches(const std::string& pattern, const std::string& host_port) {
  const auto split = [](const std::string& text, char at) {
    std::vector<std::string> parts;
    size_t begin = 0;
    while (true) {
      const auto end = text.find(at, begin);
      parts.push_back(text.substr(begin, end - begin));
      if (end == std::string::npos) return parts;
      begin = end + 1;
    }
  };
  const auto pattern_colon = pattern.rfind(':');
  const auto colon = host_port.rfind(':');
  if (pattern_colon == std::string::npos || colon == std::string::npos) return false;
  const std::string pattern_port = pattern.substr(pattern_colon + 1);
  if (pattern_port != "*" && pattern_port != host_port.substr(colon + 1)) return false;
  const std::string pattern_host = pattern.substr(0, pattern_colon);
  if (pattern_host.empty() || host_port.empty()) return false;
  if (host_port.front() == '[' || pattern_host.front() == '[') {
    if (pattern_host == "*") return true;
    const auto wanted = CanonicalIpv6(pattern_host);
    return wanted && wanted == CanonicalIpv6(host_port.substr(0, colon));
  }
  const auto pattern_labels = split(pattern.substr(0, pattern_colon), '.');
  const auto labels = split(host_port.substr(0, colon), '.');
  if (pattern_labels.size() != labels.size()) return false;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (::fnmatch(pattern_labels[i].c_str(), labels[i].c_str(), FNM_CASEFOLD) != 0) {
      return false;
    }
  }
  return true;
}

// A header value gRPC accepts (anything else aborts the process in gRPC's own check).
bool PrintableHeaderValue(const std::string& value) {
  for (unsigned char c : value) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// 127.0.0.0/8, ::1 or localhost (a peer on this machine).
bool IsLoopbackHost(const std::string& host_port) {
  return config::IsLoopback(host_port.substr(0, host_port.rfind(':')));
}

// What a tls_ca file may be: a regular file of PEM text, at most this large.
constexpr std::streamsize kMaxCaFileBytes = std::streamsize{1} << 20;

// The CAs a grpc+tls:// peer is checked against: `tls_ca`'s, else the host's store
// (ca_certificates.h), never gRPC's compiled-in default (Debian's path in a portable build).
arrow::Result<std::string> PeerRootCerts(const std::string& tls_ca,
                                         const std::string& host_port) {
  if (tls_ca.empty()) {
    auto roots = FindHostCaStore().Map(ReadCaPem);
    if (!roots.ok()) {
      return arrow::Status::IOError("cannot check the certificate of ", host_port, ": ",
                                    roots.status().message(), "; or give the peer's tls_ca");
    }
    return roots;
  }
  // Read only as a small regular file; the message never says which test failed.
  std::error_code ec;
  std::ifstream file;
  if (std::filesystem::is_regular_file(tls_ca, ec) &&
      std::filesystem::file_size(tls_ca, ec) <= kMaxCaFileBytes && !ec) {
    file.open(tls_ca, std::ios::binary);
  }
  std::string pem(static_cast<size_t>(kMaxCaFileBytes), '\0');
  if (file.is_open()) file.read(pem.data(), kMaxCaFileBytes);
  pem.resize(file.is_open() ? static_cast<size_t>(file.gcount()) : 0);
  if (pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return arrow::Status::Invalid("tls_ca must name a readable PEM file of CA certificates "
                                  "(at most 1 MiB)");
  }
  return pem;
}

}  // namespace

arrow::Status TransferPolicy::CheckPeer(const std::string& host_port) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& pattern : settings_.allowed_peers) {
    if (PeerMatches(pattern, host_port)) return arrow::Status::OK();
  }
  return PermissionDenied("'", host_port, "' is not in transfer.allowed_peers (",
                          settings_.allowed_peers.empty() ? "empty: no peer is allowed"
                                                          : "no pattern matches",
                          "): this server opens connections only to the peers listed there");
}

config::Config::Transfer::Peer TransferPolicy::CredentialsFor(const std::string& host_port) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [peer, credentials] : settings_.peers) {
    // An IPv6 peer's key names its address however written (PeerMatches).
    if (::strcasecmp(peer.c_str(), host_port.c_str()) == 0 ||
        (!peer.empty() && peer.front() == '[' && PeerMatches(peer, host_port))) {
      return credentials;
    }
  }
  return {};
}

arrow::Result<PeerAddress> ParsePeerAddress(const std::string& url) {
  // Never the URL itself in a message: it may carry credentials (user:password@).
  constexpr const char* kExpected = "expected grpc://host:port or grpc+tls://host:port";
  const auto scheme_end = url.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : url.substr(0, scheme_end);
  if (scheme != "grpc" && scheme != "grpc+tcp" && scheme != "grpc+tls") {
    return arrow::Status::Invalid("peer URL scheme must be grpc, grpc+tcp or grpc+tls (",
                                  kExpected, ")");
  }
  // Exactly host:port, as allowed_peers patterns name peers: no user info, path, query or
  // percent-encoding (which the URL parser would decode into another host than matched).
  const std::string authority = url.substr(scheme_end + 3);
  const auto colon = authority.rfind(':');
  std::string host = colon == std::string::npos ? "" : authority.substr(0, colon);
  const std::string port = colon == std::string::npos ? "" : authority.substr(colon + 1);
  // An IPv6 address in brackets, written as one text (what patterns are matched against).
  const auto ipv6 = host.size() > 2 && host.front() == '[' && host.back() == ']'
                        ? CanonicalIpv6(host)
                        : std::nullopt;
  if (ipv6) host = "[" + *ipv6 + "]";
  const bool host_ok =
      ipv6 || (!host.empty() && host.back() != '.' && host.front() != '.' &&
               host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789.-") == std::string::npos);
  const bool port_ok = !port.empty() && port.size() <= 5 &&
                       port.find_first_not_of("0123456789") == std::string::npos &&
                       std::stoi(port) > 0 && std::stoi(port) <= 65535;
  if (!host_ok || !port_ok) {
    return arrow::Status::Invalid("peer URL must be exactly ", scheme,
                                  "://host:port with a host name, an IPv4 address or an IPv6 "
                                  "address in brackets (", kExpected,
                                  "; no user info, path or escapes)");
  }
  PeerAddress address;
  address.url = scheme + "://" + host + ":" + port;
  address.tls = scheme == "grpc+tls";
  address.host_port = host + ":" + std::to_string(std::stoi(port));
  return address;
}

arrow::Result<PeerCredentials> CredentialsFromJson(const json& doc) {
  PeerCredentials out;
  for (const char* key : {"user", "password", "token", "tls_ca"}) {
    auto it = doc.find(key);
    if (it == doc.end()) continue;
    if (!it->is_string()) return arrow::Status::Invalid("'", key, "' must be a string");
    std::string value = it->get<std::string>();
    if (std::string(key) == "user") out.user = value;
    if (std::string(key) == "password") out.password = value;
    if (std::string(key) == "token") out.token = value;
    if (std::string(key) == "tls_ca") out.tls_ca = value;
  }
  if (!out.token.empty() && !out.user.empty()) {
    return arrow::Status::Invalid("give user and password, or token, not both");
  }
  return out;
}

arrow::Result<PeerConnection> ConnectPeer(const TransferPolicy& policy,
                                          const PeerAddress& address,
                                          PeerCredentials credentials,
                                          int64_t max_message_bytes) {
  ARROW_RETURN_NOT_OK(policy.CheckPeer(address.host_port));
  // The action's credentials win; the configured ones fill what it leaves out.
  const auto configured = policy.CredentialsFor(address.host_port);
  if (credentials.user.empty() && credentials.token.empty()) {
    credentials.user = configured.user;
    credentials.password = configured.password;
    credentials.token = configured.token;
  }
  if (credentials.tls_ca.empty()) credentials.tls_ca = configured.tls_ca;
  if (!credentials.tls_ca.empty() && !address.tls) {
    return arrow::Status::Invalid("tls_ca is given but the peer URL is not grpc+tls://");
  }
  const bool has_secret = !credentials.token.empty() || !credentials.user.empty();
  if (has_secret && !address.tls && !IsLoopbackHost(address.host_port)) {
    return arrow::Status::Invalid("credentials for ", address.host_port, " would cross the "
                                  "network in plain text: use grpc+tls:// (a loopback peer "
                                  "may use grpc://)");
  }
  if (!PrintableHeaderValue(credentials.token)) {
    return arrow::Status::Invalid("the peer token must be printable ASCII");
  }
  auto options = fl::FlightClientOptions::Defaults();
  // A peer is held to the same message size as clients are.
  options.generic_options.emplace_back("grpc.max_receive_message_length",
                                       static_cast<int>(std::min<int64_t>(
                                           max_message_bytes, std::numeric_limits<int>::max())));
  if (address.tls) {
    ARROW_ASSIGN_OR_RAISE(options.tls_root_certs,
                          PeerRootCerts(credentials.tls_ca, address.host_port));
  }
  ARROW_ASSIGN_OR_RAISE(auto location, fl::Location::Parse(address.url));
  PeerConnection peer;
  peer.address = address;
  ARROW_ASSIGN_OR_RAISE(peer.client, fl::FlightClient::Connect(location, options));
  peer.client_options = std::move(options);
  if (!credentials.token.empty()) {
    peer.options.headers.emplace_back("authorization", "Bearer " + credentials.token);
  } else if (!credentials.user.empty()) {
    peer.options.timeout = fl::TimeoutDuration{30.0};
    auto bearer = peer.client->AuthenticateBasicToken(peer.options, credentials.user,
                                                      credentials.password);
    peer.options.timeout = fl::TimeoutDuration{-1.0};
    // Never the credentials in a message: the peer's own reason only.
    if (!bearer.ok()) {
      return bearer.status().WithMessage("signing in to ", address.host_port,
                                         " failed: ", bearer.status().message());
    }
    // A peer without authentication answers with no token: nothing to present then (an
    // empty header name is a gRPC API misuse that aborts the process).
    if (!bearer->first.empty() && !bearer->second.empty()) {
      peer.options.headers.push_back(*bearer);
    }
  }
  return peer;
}

// ---- the action bodies' fields and errors (transfer_peer.h) ----

arrow::Result<json> ParseBody(const std::string& body, const char* action) {
  auto doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return arrow::Status::Invalid(action, ": the action body must be a JSON object");
  }
  return doc;
}

arrow::Result<std::string> StringOf(const json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return std::string();
  if (!it->is_string()) return arrow::Status::Invalid("'", key, "' must be a string");
  return it->get<std::string>();
}

arrow::Status OnlyKnownKeys(const json& doc, const char* action,
                            std::initializer_list<const char*> known) {
  for (const auto& item : doc.items()) {
    bool found = false;
    for (const char* k : known) found = found || item.key() == k;
    if (found) continue;
    std::string list;
    for (const char* k : known) list += std::string(list.empty() ? "" : ", ") + k;
    return arrow::Status::Invalid(action, ": unknown field '", item.key(), "' (known: ", list,
                                  ")");
  }
  return arrow::Status::OK();
}

// "timeout_s": how long the whole transfer may take (absent: no limit).
arrow::Result<fl::TimeoutDuration> TimeoutOf(const json& doc) {
  auto it = doc.find("timeout_s");
  if (it == doc.end() || it->is_null()) return fl::TimeoutDuration{-1.0};
  if (!it->is_number() || it->get<double>() <= 0) {
    return arrow::Status::Invalid("'timeout_s' must be a positive number of seconds");
  }
  return fl::TimeoutDuration{it->get<double>()};
}

namespace {

// The answer to one GetFlightInfo, filled on gRPC's threads and awaited on the caller's.
// It lives apart from the listener: Arrow Flight drops its listener's last reference on a
// gRPC thread after an atomic decrement compiled into libarrow_flight, which ThreadSanitizer
// cannot see, so state the caller touched must not be destroyed with the listener. Every
// reference to this one is taken and dropped in our code.
struct PlanAnswer {
  std::mutex mutex;  // guards everything below
  std::condition_variable changed;
  bool finished = false;
  bool released = false;  // Arrow let go of the listener: the call is in its disposal
  bool cancelling = false;  // a TryCancel is under way (interrupts run one at a time)
  arrow::Status status;
  std::unique_ptr<fl::FlightInfo> info;
};

// The answer to one GetFlightInfo made with gRPC's asynchronous API, which (unlike the
// blocking call) can be cancelled: a source that never answers then holds neither the
// copy nor its admission slot once the caller has gone.
class FlightInfoListener : public fl::AsyncListener<fl::FlightInfo> {
 public:
  explicit FlightInfoListener(std::shared_ptr<PlanAnswer> answer) : answer_(std::move(answer)) {}
  // Arrow holds its last reference until it has handed the call to its disposal thread:
  // UnaryUnaryAsyncCall::Finish (transport/grpc/grpc_client.cc) moves the listener into a
  // local, calls OnFinish, then GrpcGarbageBin::Dispose, and lets the local go.
  ~FlightInfoListener() override {
    std::lock_guard<std::mutex> lock(answer_->mutex);
    answer_->released = true;
    answer_->changed.notify_all();
  }
  void OnNext(fl::FlightInfo info) override {
    std::lock_guard<std::mutex> lock(answer_->mutex);
    answer_->info = std::make_unique<fl::FlightInfo>(std::move(info));
  }
  // Arrow takes the call out of the listener when this returns, so a TryCancel under way
  // (which reaches the call through the listener) ends first; none starts after. (gRPC
  // never runs OnDone, hence this, inside TryCancel: its unary finish is not inlined.)
  void OnFinish(arrow::Status status) override {
    std::unique_lock<std::mutex> lock(answer_->mutex);
    answer_->status = std::move(status);
    answer_->finished = true;
    answer_->changed.notify_all();
    answer_->changed.wait(lock, [this] { return !answer_->cancelling; });
  }
  void Cancel() {
    {
      std::lock_guard<std::mutex> lock(answer_->mutex);
      if (answer_->finished) return;
      answer_->cancelling = true;
    }
    TryCancel();
    std::lock_guard<std::mutex> lock(answer_->mutex);
    answer_->cancelling = false;
    answer_->changed.notify_all();
  }

 private:
  const std::shared_ptr<PlanAnswer> answer_;
};

}  // namespace

arrow::Result<std::unique_ptr<fl::FlightInfo>> PeerFlightInfo(
    const PeerConnection& peer, const fl::FlightCallOptions& options,
    const fl::FlightDescriptor& descriptor,
    const std::shared_ptr<CallCancellation>& cancellation) {
  auto answer = std::make_shared<PlanAnswer>();
  auto listener = std::make_shared<FlightInfoListener>(answer);
  peer.client->GetFlightInfoAsync(options, descriptor, listener);
  CallCancellation::Subscription stop;
  if (cancellation) {
    stop = CallCancellation::OnCancel(cancellation, [listener] { listener->Cancel(); });
  }
  {
    std::unique_lock<std::mutex> lock(answer->mutex);
    answer->changed.wait(lock, [&answer] { return answer->finished; });
  }
  // The caller may destroy the client once this returns: Arrow must be done with the call.
  // (Bounded: an Arrow that kept the listener longer would otherwise hang the copy.)
  stop.Reset();
  listener.reset();
  std::unique_lock<std::mutex> lock(answer->mutex);
  answer->changed.wait_for(lock, std::chrono::seconds(10), [&answer] { return answer->released; });
  ARROW_RETURN_NOT_OK(answer->status);
  if (!answer->info) {
    return arrow::Status::IOError("the source answered GetFlightInfo with nothing");
  }
  return std::move(answer->info);
}

// The prefix every copy error gets: which action, which peer.
arrow::Status InContext(const arrow::Status& st, const char* action, const std::string& peer) {
  if (st.ok()) return st;
  std::string message = st.message();
  const auto debug = message.find(". gRPC client debug context");
  if (debug != std::string::npos) message.resize(debug);
  return st.WithMessage(action, " ", peer, ": ", message);
}

}  // namespace arrowport::flight
