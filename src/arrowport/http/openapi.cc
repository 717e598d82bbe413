#include "arrowport/http/openapi.h"

namespace arrowport::http {

namespace {
// Kept next to the routes in http_gateway.cc; the e2e suite checks every path here is
// served and every served path is here.
constexpr const char* kDocument = R"json({
  "openapi": "3.1.0",
  "info": {"title": "Arrowport", "version": "0.1.0",
           "description": "Arrow IPC in and out of DuckDB over HTTP."},
  "components": {
    "securitySchemes": {
      "basic": {"type": "http", "scheme": "basic"},
      "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
    "schemas": {
      "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
      "IngestResult": {"type": "object", "properties": {
        "stream": {"type": "string"}, "table": {"type": "string"},
        "rows": {"type": "integer"}, "batches": {"type": "integer"},
        "bytes": {"type": "integer"}, "seconds": {"type": "number"},
        "created": {"type": "boolean"}, "committed": {"type": "boolean"},
        "duplicate": {"type": "boolean", "description": "request_id seen before: nothing inserted"}}},
      "IngestError": {"allOf": [{"$ref": "#/components/schemas/Error"}, {"type": "object", "properties": {
        "committed_batches": {"type": "array", "description": "per_batch: batches committed before the failure",
          "items": {"type": "object", "properties": {"batch": {"type": "integer"}, "rows": {"type": "integer"}}}}}}]}
    },
    "parameters": {
      "name": {"name": "name", "in": "path", "required": true,
               "schema": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,127}$"}},
      "stream": {"name": "stream", "in": "path", "required": true,
                 "schema": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,127}$"}},
      "format": {"name": "format", "in": "query", "required": false,
                 "schema": {"enum": ["arrow", "arrow-file", "parquet", "csv", "json"]}}
    },
    "responses": {
      "Error": {"description": "Error", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}},
      "IngestError": {"description": "Error; per_batch requests list what was committed", "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/IngestError"}}}},
      "Result": {"description": "Result rows, streamed (chunked) in the negotiated format",
        "content": {"application/vnd.apache.arrow.stream": {}, "application/vnd.apache.arrow.file": {},
                    "application/vnd.apache.parquet": {}, "text/csv": {}, "application/json": {}}}
    }
  },
  "paths": {
    "/ingest/{stream}": {"post": {
      "summary": "Stream an Arrow IPC stream body into the stream's table",
      "parameters": [{"$ref": "#/components/parameters/stream"},
        {"name": "table", "in": "query", "schema": {"type": "string"}},
        {"name": "mode", "in": "query", "schema": {"enum": ["append", "create", "replace"]}},
        {"name": "commit", "in": "query", "schema": {"enum": ["per_request", "per_batch"]}},
        {"name": "request_id", "in": "query", "schema": {"type": "string", "maxLength": 200},
         "description": "retries with the same id write once; with Idempotency-Key, the same id"},
        {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": 200},
         "description": "as request_id; both given and different: 400"}],
      "requestBody": {"required": true, "content": {"application/vnd.apache.arrow.stream": {}}},
      "responses": {"200": {"description": "Committed", "content": {"application/json": {
          "schema": {"$ref": "#/components/schemas/IngestResult"}}}},
        "400": {"$ref": "#/components/responses/IngestError"}, "408": {"$ref": "#/components/responses/IngestError"},
        "409": {"$ref": "#/components/responses/IngestError"},
        "413": {"$ref": "#/components/responses/Error"}, "415": {"$ref": "#/components/responses/Error"}, "501": {"$ref": "#/components/responses/Error"},
        "422": {"$ref": "#/components/responses/IngestError"}, "500": {"$ref": "#/components/responses/IngestError"},
        "507": {"$ref": "#/components/responses/IngestError"}}}},
    "/stream/{stream}": {"post": {
      "summary": "Seed-compatible JSON ingest (base64 Arrow IPC schema and data)",
      "parameters": [{"$ref": "#/components/parameters/stream"}],
      "requestBody": {"required": true, "content": {"application/json": {"schema": {
        "type": "object", "required": ["batch"], "properties": {
          "config": {"type": "object", "properties": {"target_table": {"type": "string"},
                                                      "compression": {"type": "string"}}},
          "batch": {"type": "object", "required": ["data"], "properties": {
            "arrow_schema": {"type": "string", "contentEncoding": "base64"},
            "data": {"type": "string", "contentEncoding": "base64"}}}}}}}},
      "responses": {"200": {"description": "Committed", "content": {"application/json": {"schema": {
          "type": "object", "properties": {"status": {"type": "string"}, "stream": {"type": "string"},
            "rows_processed": {"type": "integer"}, "message": {"type": "string"}}}}}},
        "400": {"$ref": "#/components/responses/Error"}, "408": {"$ref": "#/components/responses/Error"},
        "413": {"$ref": "#/components/responses/Error"}, "415": {"$ref": "#/components/responses/Error"}, "501": {"$ref": "#/components/responses/Error"},
        "507": {"$ref": "#/components/responses/Error"}}}},
    "/query": {"post": {
      "summary": "Run SQL; JSON {sql, params} or text/plain SQL",
      "parameters": [{"$ref": "#/components/parameters/format"}],
      "requestBody": {"required": true, "content": {
        "application/json": {"schema": {"type": "object", "required": ["sql"], "properties": {
          "sql": {"type": "string"}, "params": {"type": "array"}}}},
        "text/plain": {"schema": {"type": "string"}}}},
      "responses": {"200": {"$ref": "#/components/responses/Result"},
        "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"},
        "406": {"$ref": "#/components/responses/Error"}, "408": {"$ref": "#/components/responses/Error"},
        "415": {"$ref": "#/components/responses/Error"}, "501": {"$ref": "#/components/responses/Error"}}}},
    "/tables": {"get": {"summary": "Tables and views with row counts and columns",
      "responses": {"200": {"description": "Listing", "content": {"application/json": {}}}}}},
    "/tables/{name}": {"get": {"summary": "Read a table",
      "parameters": [{"$ref": "#/components/parameters/name"}, {"$ref": "#/components/parameters/format"},
        {"name": "columns", "in": "query", "schema": {"type": "string"}},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 0}}],
      "responses": {"200": {"$ref": "#/components/responses/Result"},
        "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"},
        "406": {"$ref": "#/components/responses/Error"}}}},
    "/api/v1/arrow/bulk-read/{name}": {"get": {"summary": "Alias of GET /tables/{name}",
      "parameters": [{"$ref": "#/components/parameters/name"}, {"$ref": "#/components/parameters/format"}],
      "responses": {"200": {"$ref": "#/components/responses/Result"},
        "404": {"$ref": "#/components/responses/Error"}}}},
    "/tables/{name}/schema": {"get": {"summary": "Columns of a table or view",
      "parameters": [{"$ref": "#/components/parameters/name"}],
      "responses": {"200": {"description": "Schema", "content": {"application/json": {}}},
        "404": {"$ref": "#/components/responses/Error"}}}},
    "/streams": {"get": {"summary": "Stream routing and live counters",
      "responses": {"200": {"description": "Streams", "content": {"application/json": {}}}}}},
    "/healthz": {"get": {"summary": "Liveness, with the storage's state (ok, disk_full, reopening) and the lake tables' upkeep (ok, upkeep_failing)",
      "security": [], "responses": {"200": {"description": "ok"}}}},
    "/readyz": {"get": {"summary": "Readiness (database answers), with the storage's state", "security": [],
      "responses": {"200": {"description": "ready"}, "503": {"$ref": "#/components/responses/Error"}}}},
    "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI"}}}},
    "/metrics": {"get": {"summary": "Prometheus metrics (text format 0.0.4)",
      "responses": {"200": {"description": "Metrics", "content": {"text/plain": {}}},
        "404": {"$ref": "#/components/responses/Error"}}}},
    "/status": {"get": {"summary": "Status summary: listeners, streams with rates, tables, calls, errors",
      "responses": {"200": {"description": "Status", "content": {"application/json": {}}}}}},
    "/": {"get": {"summary": "Status page (HTML, refreshes itself from /status)",
      "responses": {"200": {"description": "Page", "content": {"text/html": {}}}}}},
    "/auth/token": {"post": {"summary": "Exchange Basic credentials for a bearer token",
      "security": [{"basic": []}],
      "responses": {"200": {"description": "{\"token\": ..., \"expires_at\": seconds since the epoch}",
        "content": {"application/json": {}}},
        "401": {"$ref": "#/components/responses/Error"}}}}
  },
  "security": [{"basic": []}, {"bearer": []}]
})json";
}  // namespace

const std::string& OpenApiDocument() {
  static const std::string document(kDocument);
  return document;
}

}  // namespace arrowport::http
