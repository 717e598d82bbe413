#include "arrowport/cli/exit_status.h"

#include <unistd.h>

#include <cstdio>

#include "arrow/flight/types.h"
#include "arrowport/cli/client.h"
#include "arrowport/cli/terminal_text.h"
#include "arrowport/common/status_detail.h"

namespace arrowport::cli {

namespace {

// Whether the server refused the call for want of credentials or for the ones given
// (Flight's UNAUTHENTICATED, HTTP's 401).
bool RefusedSignIn(const arrow::Status& status) {
  const auto flight = arrow::flight::FlightStatusDetail::UnwrapStatus(status);
  if (flight) return flight->code() == arrow::flight::FlightStatusCode::Unauthenticated;
  return HasErrorKind(status, ErrorKind::kUnauthenticated);
}

}  // namespace

std::string ErrorText(const arrow::Status& status) {
  // gRPC appends transport debug context; users need the server's message.
  std::string message = status.message();
  const auto debug = message.find(". gRPC client debug context");
  if (debug != std::string::npos) message.resize(debug);
  // The server's own advice (an Authorization header) is for programs; a CLI user signs
  // in through the environment.
  if (RefusedSignIn(status) && !CredentialsFromEnvironment()) {
    return "the server requires signing in: set ARROWPORT_USER and ARROWPORT_PASSWORD "
           "(a user of its auth.users) and run the command again";
  }
  return message;
}

int Fail(const arrow::Status& status, int code) {
  // An error names what it was given (a table, a value): on a terminal it must not drive it.
  std::fprintf(stderr, "arrowport: error: %s\n",
               ForTerminal(ErrorText(status), STDERR_FILENO).c_str());
  return code;
}

}  // namespace arrowport::cli
