#include "arrowport/flight/ipc_message_limits.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "arrow/api.h"
#include "arrow/io/memory.h"
#include "arrow/ipc/api.h"
#include "arrow/util/compression.h"

namespace arrowport::flight {
namespace ipc_message_limits_test {

// One IPC message as Flight carries it: the Message flatbuffer and the body, as bytes.
struct Message {
  std::vector<uint8_t> metadata;
  std::vector<uint8_t> body;
};

std::vector<uint8_t> Bytes(const std::shared_ptr<arrow::Buffer>& buffer) {
  if (buffer == nullptr) return {};
  return {buffer->data(), buffer->data() + buffer->size()};
}

// Every message of a stream written by Arrow's own writer (schema first).
std::vector<Message> WriteStream(const std::shared_ptr<arrow::RecordBatch>& batch,
                                 const arrow::ipc::IpcWriteOptions& options) {
  auto sink = arrow::io::BufferOutputStream::Create().ValueOrDie();
  auto writer = arrow::ipc::MakeStreamWriter(sink, batch->schema(), options).ValueOrDie();
  EXPECT_TRUE(writer->WriteRecordBatch(*batch).ok());
  EXPECT_TRUE(writer->Close().ok());
  auto reader = arrow::ipc::MessageReader::Open(
      std::make_shared<arrow::io::BufferReader>(sink->Finish().ValueOrDie()));
  std::vector<Message> out;
  while (true) {
    auto message = reader->ReadNextMessage().ValueOrDie();
    if (message == nullptr) break;
    out.push_back({Bytes(message->metadata()), Bytes(message->body())});
  }
  return out;
}

arrow::ipc::IpcWriteOptions Zstd() {
  auto options = arrow::ipc::IpcWriteOptions::Defaults();
  options.codec = arrow::util::Codec::Create(arrow::Compression::ZSTD).ValueOrDie();
  return options;
}

std::shared_ptr<arrow::RecordBatch> Zeros(int64_t rows) {
  arrow::Int64Builder builder;
  EXPECT_TRUE(builder.AppendEmptyValues(rows).ok());
  auto array = builder.Finish().ValueOrDie();
  auto schema = arrow::schema({arrow::field("x", arrow::int64())});
  return arrow::RecordBatch::Make(schema, rows, {array});
}

arrow::Result<IpcDecodedSize> Size(const Message& m) {
  return DecodedSizeOfIpcMessage(m.metadata, m.body);
}

int64_t Prefix(const Message& m, size_t offset) {
  int64_t value;
  std::memcpy(&value, m.body.data() + offset, sizeof(value));
  return value;
}

void SetPrefix(Message* m, size_t offset, int64_t value) {
  std::memcpy(m->body.data() + offset, &value, sizeof(value));
}

TEST(IpcMessageLimitsTest, SchemaMessageCountsNothing) {
  auto messages = WriteStream(Zeros(10), arrow::ipc::IpcWriteOptions::Defaults());
  auto size = Size(messages[0]);
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  // Told apart from other messages: a second one in a stream is a schema change.
  EXPECT_EQ(size->kind, IpcDecodedSize::Kind::kSchema);
  EXPECT_EQ(size->decoded_bytes, 0);
}

TEST(IpcMessageLimitsTest, UncompressedBatchCountsBufferLengths) {
  auto messages = WriteStream(Zeros(1000), arrow::ipc::IpcWriteOptions::Defaults());
  ASSERT_EQ(messages.size(), 2u);
  auto size = Size(messages[1]);
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_EQ(size->kind, IpcDecodedSize::Kind::kRecordBatch);
  EXPECT_FALSE(size->compressed);
  EXPECT_EQ(size->decoded_bytes, 8000);  // no validity bitmap, 1000 int64 values
}

TEST(IpcMessageLimitsTest, CompressedBatchCountsDeclaredUncompressedLengths) {
  auto messages = WriteStream(Zeros(1 << 20), Zstd());
  const auto& batch = messages[1];
  EXPECT_LT(batch.body.size(), 64u << 10);  // 8 MiB of zeros compress to almost nothing
  auto size = Size(batch);
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_TRUE(size->compressed);
  EXPECT_EQ(size->decoded_bytes, int64_t{8} << 20);
}

// Found by ipc_message_limits_fuzzer (UBSan): gRPC may hand the header over at any
// address, and flatbuffers' in-place reads of a misaligned header were misaligned loads.
// The clang build checks the loads; every build checks the answer is the same.
TEST(IpcMessageLimitsTest, MisalignedHeaderIsReadLikeAnAlignedOne) {
  auto messages = WriteStream(Zeros(1 << 16), Zstd());
  const auto& batch = messages[1];
  auto aligned = Size(batch);
  ASSERT_TRUE(aligned.ok()) << aligned.status().ToString();
  std::vector<uint8_t> storage(batch.metadata.size() + 8);
  for (size_t shift = 1; shift < 8; ++shift) {
    std::memcpy(storage.data() + shift, batch.metadata.data(), batch.metadata.size());
    auto size = DecodedSizeOfIpcMessage(
        std::span<const uint8_t>(storage.data() + shift, batch.metadata.size()), batch.body);
    ASSERT_TRUE(size.ok()) << shift << ": " << size.status().ToString();
    EXPECT_EQ(size->decoded_bytes, aligned->decoded_bytes);
    EXPECT_EQ(size->decoded_bytes, int64_t{8} << 16);
    EXPECT_TRUE(size->compressed);
  }
}

TEST(IpcMessageLimitsTest, HandPatchedPrefixClaimingFourGiB) {
  auto messages = WriteStream(Zeros(1 << 20), Zstd());
  auto batch = messages[1];
  // The validity buffer is empty, so the data buffer (and its prefix) starts the body.
  ASSERT_EQ(Prefix(batch, 0), int64_t{8} << 20);
  SetPrefix(&batch, 0, int64_t{4} << 30);
  auto size = Size(batch);
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_EQ(size->decoded_bytes, int64_t{4} << 30);
}

TEST(IpcMessageLimitsTest, StoredUncompressedBufferCountsItsLength) {
  std::mt19937_64 random(42);
  arrow::Int64Builder builder;
  for (int i = 0; i < 4096; ++i) {
    ASSERT_TRUE(builder.Append(static_cast<int64_t>(random())).ok());
  }
  auto schema = arrow::schema({arrow::field("x", arrow::int64())});
  auto batch = arrow::RecordBatch::Make(schema, 4096, {builder.Finish().ValueOrDie()});
  auto options = Zstd();
  // Random values do not compress: stored as they are, with prefix -1.
  options.min_space_savings = 0.5;
  auto messages = WriteStream(batch, options);
  ASSERT_EQ(Prefix(messages[1], 0), -1);
  auto size = Size(messages[1]);
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_TRUE(size->compressed);
  EXPECT_EQ(size->decoded_bytes, 4096 * 8);
}

TEST(IpcMessageLimitsTest, NegativePrefixIsRefused) {
  auto messages = WriteStream(Zeros(1000), Zstd());
  auto batch = messages[1];
  SetPrefix(&batch, 0, -5);
  auto size = Size(batch);
  ASSERT_FALSE(size.ok());
  EXPECT_TRUE(size.status().IsInvalid());
  EXPECT_NE(size.status().message().find("negative uncompressed length"),
            std::string::npos);
}

TEST(IpcMessageLimitsTest, PrefixesOverflowingTogetherAreRefused) {
  auto table = arrow::Table::Make(arrow::schema({arrow::field("a", arrow::int64()),
                                                 arrow::field("b", arrow::int64())}),
                                  {Zeros(1000)->column(0), Zeros(1000)->column(0)});
  auto batch = table->CombineChunksToBatch().ValueOrDie();
  auto messages = WriteStream(batch, Zstd());
  auto message = messages[1];
  // Both data buffers claim 2^62 + 2^62 + ... : find them by their declared 8000 bytes.
  int patched = 0;
  for (size_t offset = 0; offset + 8 <= message.body.size(); offset += 8) {
    if (Prefix(message, offset) == 8000) {
      SetPrefix(&message, offset, std::numeric_limits<int64_t>::max() - 10);
      ++patched;
    }
  }
  ASSERT_EQ(patched, 2);
  auto size = Size(message);
  ASSERT_FALSE(size.ok());
  EXPECT_NE(size.status().message().find("2^63"), std::string::npos);
}

TEST(IpcMessageLimitsTest, BufferOutsideTheBodyIsRefused) {
  auto messages = WriteStream(Zeros(1000), arrow::ipc::IpcWriteOptions::Defaults());
  auto batch = messages[1];
  batch.body.resize(batch.body.size() / 2);
  auto size = Size(batch);
  ASSERT_FALSE(size.ok());
  EXPECT_NE(size.status().message().find("outside"), std::string::npos);
  auto compressed = WriteStream(Zeros(1000), Zstd())[1];
  compressed.body.clear();  // a compressed buffer whose prefix is not even there
  EXPECT_FALSE(Size(compressed).ok());
}

TEST(IpcMessageLimitsTest, DictionaryBatchIsCounted) {
  arrow::StringBuilder values;
  ASSERT_TRUE(values.AppendValues({"alpha", "beta", "gamma"}).ok());
  auto dictionary = values.Finish().ValueOrDie();
  arrow::Int32Builder index_builder;
  ASSERT_TRUE(index_builder.AppendValues({0, 1, 2, 1, 0}).ok());
  auto indices = index_builder.Finish().ValueOrDie();
  auto type = arrow::dictionary(arrow::int32(), arrow::utf8());
  auto array = arrow::DictionaryArray::FromArrays(type, indices, dictionary).ValueOrDie();
  auto schema = arrow::schema({arrow::field("d", type)});
  auto batch = arrow::RecordBatch::Make(schema, 5, {array});
  auto messages = WriteStream(batch, Zstd());
  ASSERT_EQ(messages.size(), 3u);  // schema, dictionary, record batch
  auto size = Size(messages[1]);
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_EQ(size->kind, IpcDecodedSize::Kind::kDictionaryBatch);
  EXPECT_TRUE(size->compressed);
  EXPECT_EQ(size->decoded_bytes, 4 * 4 + 14);  // 4 int32 offsets, "alphabetagamma"
}

TEST(IpcMessageLimitsTest, GarbageHeadersAreRefusedNotCrashedOn) {
  const std::vector<uint8_t> garbage = {'n', 'o', 't', ' ', 'a', ' ', 'f', 'l', 'a', 't'};
  EXPECT_FALSE(DecodedSizeOfIpcMessage(garbage, {}).ok());
  EXPECT_FALSE(DecodedSizeOfIpcMessage({}, {}).ok());
  auto batch = WriteStream(Zeros(1000), Zstd())[1];
  // Truncations and byte flips of a real header: refused or read, never a crash.
  for (size_t n = 0; n < batch.metadata.size(); ++n) {
    std::vector<uint8_t> cut(batch.metadata.begin(), batch.metadata.begin() + n);
    (void)DecodedSizeOfIpcMessage(cut, batch.body);
  }
  std::mt19937 random(7);
  for (int i = 0; i < 20000; ++i) {
    auto mutated = batch.metadata;
    for (int flips = 0; flips < 3; ++flips) {
      mutated[random() % mutated.size()] ^= static_cast<uint8_t>(1u << (random() % 8));
    }
    auto size = DecodedSizeOfIpcMessage(mutated, batch.body);
    if (size.ok()) EXPECT_GE(size->decoded_bytes, 0);
  }
}

}  // namespace ipc_message_limits_test
}  // namespace arrowport::flight
