#include "arrowport/common/capped_memory_pool.h"

#include <gtest/gtest.h>

#include "arrow/buffer.h"
#include "arrowport/common/status_detail.h"

namespace arrowport {
namespace capped_memory_pool_test {

TEST(CappedMemoryPoolTest, RefusesAllocationsPastTheCapAndFreesRestoreRoom) {
  CappedMemoryPool pool(arrow::default_memory_pool(), 1000, "limits.max_batch_bytes");
  uint8_t* a = nullptr;
  ASSERT_TRUE(pool.Allocate(600, &a).ok());
  EXPECT_EQ(pool.bytes_allocated(), 600);
  uint8_t* b = nullptr;
  auto st = pool.Allocate(500, &b);
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(HasErrorKind(st, ErrorKind::kTooLarge)) << st.ToString();
  EXPECT_NE(st.message().find("limits.max_batch_bytes"), std::string::npos);
  EXPECT_TRUE(pool.refused());
  EXPECT_EQ(pool.bytes_allocated(), 600);
  pool.Free(a, 600);
  EXPECT_EQ(pool.bytes_allocated(), 0);
  ASSERT_TRUE(pool.Allocate(900, &b).ok());
  pool.Free(b, 900);
  EXPECT_EQ(pool.max_memory(), 900);
}

TEST(CappedMemoryPoolTest, ReallocateCountsOnlyGrowth) {
  CappedMemoryPool pool(arrow::default_memory_pool(), 1000, "cap");
  uint8_t* p = nullptr;
  ASSERT_TRUE(pool.Allocate(400, &p).ok());
  ASSERT_TRUE(pool.Reallocate(400, 900, &p).ok());
  EXPECT_EQ(pool.bytes_allocated(), 900);
  EXPECT_FALSE(pool.Reallocate(900, 1200, &p).ok());
  ASSERT_TRUE(pool.Reallocate(900, 100, &p).ok());
  EXPECT_EQ(pool.bytes_allocated(), 100);
  pool.Free(p, 100);
  EXPECT_EQ(pool.bytes_allocated(), 0);
}

TEST(CappedMemoryPoolTest, BuffersFromThePoolAreCounted) {
  CappedMemoryPool pool(arrow::default_memory_pool(), 1 << 20, "cap");
  {
    auto buffer = arrow::AllocateBuffer(4096, &pool);
    ASSERT_TRUE(buffer.ok());
    EXPECT_GE(pool.bytes_allocated(), 4096);
    EXPECT_FALSE(arrow::AllocateBuffer(2 << 20, &pool).ok());
  }
  EXPECT_EQ(pool.bytes_allocated(), 0);
}

}  // namespace capped_memory_pool_test
}  // namespace arrowport
