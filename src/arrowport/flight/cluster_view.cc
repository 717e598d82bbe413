#include "arrowport/flight/cluster_view.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "arrowport/common/text_util.h"

namespace arrowport::flight {

namespace fl = arrow::flight;

namespace {

// Separates the tickets' key from any other use of the same secret.
constexpr std::string_view kKeyContext = "arrowport cluster ticket key v1";
constexpr size_t kMacHexDigits = 64;

}  // namespace

arrow::Result<std::unique_ptr<ClusterView>> ClusterView::Make(std::vector<Node> nodes,
                                                              const std::string& self,
                                                              std::string_view secret) {
  size_t self_index = nodes.size();
  std::vector<fl::Location> locations;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].name == self) self_index = i;
    auto location = fl::Location::Parse(nodes[i].flight);
    if (!location.ok()) {
      return arrow::Status::Invalid("cluster node '", nodes[i].name, "': its flight URL '",
                                    nodes[i].flight, "' does not parse: ",
                                    location.status().message());
    }
    locations.push_back(std::move(*location));
  }
  if (self_index == nodes.size()) {
    return arrow::Status::Invalid("cluster.self '", self, "' is not one of cluster.nodes");
  }
  const std::string_view text = Trimmed(secret);
  if (text.size() < kMinSecretBytes) {
    return arrow::Status::Invalid("the cluster secret holds ", text.size(),
                                  " bytes; it needs at least ", kMinSecretBytes,
                                  " random bytes (make one with: openssl rand -hex 32)");
  }
  // The key: SHA-256 of the context and the secret (the secret itself is used nowhere).
  std::string material(kKeyContext);
  material.push_back('\0');
  material.append(text);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(material.data()), material.size(), digest);
  OPENSSL_cleanse(material.data(), material.size());
  std::string key(reinterpret_cast<const char*>(digest), sizeof(digest));
  OPENSSL_cleanse(digest, sizeof(digest));
  return std::unique_ptr<ClusterView>(
      new ClusterView(std::move(nodes), self_index, std::move(locations), std::move(key)));
}

ClusterView::ClusterView(std::vector<Node> nodes, size_t self,
                         std::vector<fl::Location> locations, std::string key)
    : nodes_(std::move(nodes)),
      self_(self),
      locations_(std::move(locations)),
      key_(std::move(key)),
      serving_(new std::atomic<bool>[nodes_.size()]) {
  // Until the first poll, every node counts as answering: a client given a node that is
  // down falls back to the endpoint's second location.
  for (size_t i = 0; i < nodes_.size(); ++i) serving_[i].store(true);
}

std::string ClusterView::MacOf(std::string_view ticket) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(ticket.data()), ticket.size(), mac, &size);
  return HexText(std::string_view(reinterpret_cast<const char*>(mac), size));
}

std::string ClusterView::Seal(const std::string& ticket) const {
  std::string sealed(kSealedPrefix);
  sealed += MacOf(ticket);
  sealed.push_back(':');
  sealed += ticket;
  return sealed;
}

arrow::Result<std::optional<std::string>> ClusterView::Open(const std::string& ticket) const {
  if (ticket.rfind(kSealedPrefix, 0) != 0) return std::nullopt;
  const std::string_view rest = std::string_view(ticket).substr(kSealedPrefix.size());
  if (rest.size() < kMacHexDigits + 1 || rest[kMacHexDigits] != ':') {
    return arrow::Status::Invalid("a malformed cluster ticket");
  }
  const std::string_view inner = rest.substr(kMacHexDigits + 1);
  const std::string expected = MacOf(inner);
  if (CRYPTO_memcmp(expected.data(), rest.data(), kMacHexDigits) != 0) {
    return arrow::Status::Invalid(
        "a cluster ticket this cluster did not make (its seal does not verify with "
        "cluster.secret_file: another cluster's, or altered): ask a node for the table again");
  }
  return std::string(inner);
}

std::vector<fl::FlightEndpoint> ClusterView::Spread(const std::vector<std::string>& tickets) const {
  // The nodes that answer, this one first, then the others in the configured order.
  std::vector<size_t> order;
  for (size_t step = 0; step < nodes_.size(); ++step) {
    const size_t index = (self_ + step) % nodes_.size();
    if (index == self_ || serving(index)) order.push_back(index);
  }
  // A second location even when no other node answers now: it may answer by then.
  const size_t fallback_when_alone = (self_ + 1) % nodes_.size();
  std::vector<fl::FlightEndpoint> endpoints(tickets.size());
  for (size_t i = 0; i < tickets.size(); ++i) {
    auto& endpoint = endpoints[i];
    endpoint.ticket.ticket = Seal(tickets[i]);
    const size_t first = order[i % order.size()];
    const size_t second = order.size() > 1 ? order[(i + 1) % order.size()] : fallback_when_alone;
    endpoint.locations.push_back(locations_[first]);
    if (second != first) endpoint.locations.push_back(locations_[second]);
  }
  return endpoints;
}

void ClusterView::SetServing(size_t index, bool serving) {
  if (index < nodes_.size() && index != self_) serving_[index].store(serving);
}

bool ClusterView::serving(size_t index) const {
  return index == self_ || (index < nodes_.size() && serving_[index].load());
}

arrow::Result<query::QueryRequest> RequestOfTicket(const std::string& ticket,
                                                   const ClusterView* cluster) {
  if (ticket.rfind(ClusterView::kSealedPrefix, 0) == 0) {
    if (cluster == nullptr) {
      return arrow::Status::Invalid("a cluster's ticket, and this server serves in no "
                                    "cluster (cluster.nodes): ask it for the table again");
    }
    ARROW_ASSIGN_OR_RAISE(auto opened, cluster->Open(ticket));
    ARROW_ASSIGN_OR_RAISE(auto request, query::ParseTicket(*opened));
    if (request.lake_part) request.lake_part->from_cluster = true;
    return request;
  }
  ARROW_ASSIGN_OR_RAISE(auto request, query::ParseTicket(ticket));
  if (cluster != nullptr && request.lake_part) {
    return arrow::Status::Invalid("a lake table's part is read with a ticket a node of the "
                                  "cluster handed out (GetFlightInfo): ask for the table "
                                  "again");
  }
  return request;
}

std::vector<fl::FlightEndpoint> EndpointsOfPlan(query::ReadPlan plan, const ClusterView* cluster) {
  if (cluster != nullptr && plan.anywhere) return cluster->Spread(plan.tickets);
  std::vector<fl::FlightEndpoint> endpoints(plan.tickets.size());
  for (size_t i = 0; i < plan.tickets.size(); ++i) {
    endpoints[i].ticket.ticket = std::move(plan.tickets[i]);
  }
  return endpoints;
}

}  // namespace arrowport::flight
