#pragma once

#include <string>

namespace arrowport::http {

/// The OpenAPI 3.1 description of the HTTP surface served at /openapi.json.
const std::string& OpenApiDocument();

}  // namespace arrowport::http
