#pragma once

namespace arrowport::cli {

/// \brief Entry point of the `arrowport` executable. Exit codes: 0 ok, 1 runtime error,
/// 2 usage or configuration error (exit_status.h).
int Main(int argc, char** argv);

}  // namespace arrowport::cli
