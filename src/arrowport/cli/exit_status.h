#pragma once

#include <string>

#include "arrow/status.h"

// How every command ends: its exit code, and a failure's message as a user reads it.
namespace arrowport::cli {

/// The exit codes of every command.
inline constexpr int kOk = 0;
inline constexpr int kRuntimeError = 1;
inline constexpr int kUsageError = 2;

/// `status`'s message as a user should read it: the server's words, without the debug
/// context gRPC appends; a refusal for want of credentials (none in the environment)
/// says how to sign in.
std::string ErrorText(const arrow::Status& status);

/// Prints `status` as every command reports a failure (ErrorText; on a terminal made
/// Printable line by line) and returns `code`.
int Fail(const arrow::Status& status, int code = 1);

}  // namespace arrowport::cli
