#include "arrowport/common/version.h"

// Written by toolchain/build.sh from git describe (CMakeLists.txt: the project's version
// when built without it). Only this file includes it: a new commit recompiles one file.
#include "arrowport/version_string.h"

namespace arrowport {

const char* Version() { return ARROWPORT_VERSION_STRING; }

}  // namespace arrowport
