#include "arrowport/storage/memory/allocation_guard.h"

#include <gtest/gtest.h>

namespace arrowport::storage {
namespace allocation_guard_test {

// The unit tests link the guard's operator new (arrowport_memory_guard) as the server
// does: the probe sees it, except in a sanitizer build, which keeps the sanitizer's own.
// A build that stops linking the object library fails here.
TEST(AllocationGuardTest, TheOperatorNewOverrideIsLinkedIn) {
  const int64_t before = AllocationGuard::live_bytes();
  const bool active = AllocationGuard::NewOverrideActive();
#ifdef ARROWPORT_NO_NEW_GUARD
  EXPECT_FALSE(active);
#else
  EXPECT_TRUE(active);
#endif
  EXPECT_EQ(AllocationGuard::live_bytes(), before);  // the probe leaves nothing counted
}

}  // namespace allocation_guard_test
}  // namespace arrowport::storage
