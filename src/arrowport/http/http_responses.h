#pragma once

#include <httplib.h>

#include <chrono>
#include <string>

#include "arrow/status.h"
#include "arrowport/http/http_errors.h"

namespace arrowport::http {

/// Sets a JSON response body and status.
void SendJson(httplib::Response& res, int status, const std::string& body);

/// \brief Sends an error as its JSON body. After a 413 only a little more of an unread
/// request body is drained before the connection closes (a body refused for its size may
/// be endless); other refusals drain the body whole so that the client reads the answer.
/// The request's meter keeps the message for the status page's recent errors. `body`:
/// the JSON sent instead of error.ToJson() (the error with more fields).
void SendError(httplib::Response& res, const HttpError& error, const std::string& body = "");

/// SendError for a Status (ToHttpError), with Retry-After on a busy server.
void SendStatus(httplib::Response& res, const arrow::Status& status);

/// Limits the drain of the rest of the request body after a response of `status`.
void LimitDrain(int status);

/// The request's handler stopped reading its body before the body ended (the ingest
/// failed on a batch, or on bytes after its stream's end): at most `drain` more bytes of
/// it are read (a chunked body has no end httplib would stop at), and the connection
/// ends with the answer.
void EndUnreadBody(int64_t drain = int64_t{16} << 20);

double SecondsSince(std::chrono::steady_clock::time_point start);

}  // namespace arrowport::http
