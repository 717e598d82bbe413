#pragma once

namespace arrowport {

/// Arrowport's version, from the git tag the build was made at (toolchain/version.sh):
/// "0.2.0" on the tag, "0.2.0+5.gabc1234" five commits after it.
const char* Version();

}  // namespace arrowport
