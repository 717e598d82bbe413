#include "arrowport/query/catalog_reads.h"

#include "arrowport/query/session_connection.h"
#include "arrowport/storage/database/shared_connection.h"

namespace arrowport::query {

CatalogReads::CatalogReads(SessionLease& lease)
    : queries_(&lease.storage_lease().connection()) {}

}  // namespace arrowport::query
