#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arrow/flight/types.h"
#include "arrow/result.h"
#include "arrowport/query/query_pipeline.h"

// This node's view of its cluster (design section 14): the nodes serving one lake, which
// of them answer, and the tickets a node seals so that every node serves them.
namespace arrowport::flight {

/// \brief The cluster as this node sees it. The nodes and the key are fixed at start;
/// each node's health is set by the server's poller. Thread-safe.
class ClusterView {
 public:
  struct Node {
    std::string name;
    std::string flight;  ///< its Flight URL as clients reach it
    std::string http;    ///< its HTTP URL (/readyz)
  };

  /// Bytes a cluster secret has at least (cluster.secret_file).
  static constexpr size_t kMinSecretBytes = 32;
  /// What a sealed ticket begins with (never valid SQL, nor a JSON ticket).
  static constexpr std::string_view kSealedPrefix = "arrowport-cluster-v1:";

  /// `nodes` with `self` among them; `secret`: the shared secret (leading and trailing
  /// blanks ignored; at least kMinSecretBytes). Invalid, naming what, otherwise.
  static arrow::Result<std::unique_ptr<ClusterView>> Make(std::vector<Node> nodes,
                                                          const std::string& self,
                                                          std::string_view secret);

  /// `ticket` sealed: every node of the cluster serves it (Open), no other server.
  std::string Seal(const std::string& ticket) const;
  /// The ticket inside a sealed `ticket`; nullopt when `ticket` is not sealed; Invalid
  /// (INVALID_ARGUMENT: ask a node again) when its seal is not this cluster's (another
  /// cluster's, forged or altered).
  arrow::Result<std::optional<std::string>> Open(const std::string& ticket) const;

  /// \brief Endpoints for `tickets` that read the same rows on any node: sealed, spread
  /// over the nodes that answer (this one first, then the others in turn), each listing
  /// its node and then the next one as a second location, so that a client whose node
  /// is lost mid-read fetches the endpoint again elsewhere.
  std::vector<arrow::flight::FlightEndpoint> Spread(const std::vector<std::string>& tickets) const;

  /// Whether node `index` answers (its /readyz); this node always counts as answering.
  void SetServing(size_t index, bool serving);
  bool serving(size_t index) const;

  const std::vector<Node>& nodes() const { return nodes_; }
  size_t self() const { return self_; }

 private:
  ClusterView(std::vector<Node> nodes, size_t self, std::vector<arrow::flight::Location> locations,
              std::string key);
  std::string MacOf(std::string_view ticket) const;

  const std::vector<Node> nodes_;
  const size_t self_;
  const std::vector<arrow::flight::Location> locations_;  // nodes_' Flight URLs, parsed
  const std::string key_;
  std::unique_ptr<std::atomic<bool>[]> serving_;
};

/// \brief A DoGet's ticket as a read request. A cluster's sealed ticket is opened (its
/// lake part may name a snapshot this node has still to read: LakePart::from_cluster); on
/// a cluster (`cluster` not null), a lake part is read only from a sealed ticket, so that
/// a node serves the parts a node handed out. A sealed ticket on a server in no cluster
/// is refused, saying so.
arrow::Result<query::QueryRequest> RequestOfTicket(const std::string& ticket,
                                                   const ClusterView* cluster);

/// The endpoints of `plan`: spread over `cluster`'s nodes (ClusterView::Spread) when its
/// tickets read the same rows on any node and there is a cluster (may be null); else one
/// per ticket, on this server.
std::vector<arrow::flight::FlightEndpoint> EndpointsOfPlan(query::ReadPlan plan,
                                                           const ClusterView* cluster);

}  // namespace arrowport::flight
