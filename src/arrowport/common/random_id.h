#pragma once

#include <string>

namespace arrowport {

/// A 128-bit hex id from the operating system's CSPRNG (getrandom): Flight SQL's
/// statement handles, transaction ids and session cookies are capabilities, so they must
/// not be guessable. Throws std::runtime_error when the kernel has no entropy source.
std::string RandomId();

}  // namespace arrowport
