#pragma once

#include <httplib.h>

namespace arrowport::http {

class GatewayContext;

/// POST /admin/backup[?to=PATH|s3://bucket/prefix]: a backup of the database (admins
/// only; without `to`, backup.to), answered with its summary once it is complete.
void AddBackupRoute(const GatewayContext& ctx, httplib::Server& server);

}  // namespace arrowport::http
