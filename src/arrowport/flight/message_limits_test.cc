#include "arrowport/flight/message_limits.h"

#include <arrow/flight/api.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/server_interceptor.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "arrow/api.h"
#include "arrow/util/compression.h"
#include "arrowport/common/status_detail.h"

namespace arrowport::flight {
namespace message_limits_test {

namespace fl = arrow::flight;

constexpr int64_t kMaxBatchBytes = int64_t{1} << 20;

std::shared_ptr<arrow::RecordBatch> Zeros(int64_t rows) {
  arrow::Int64Builder builder;
  EXPECT_TRUE(builder.AppendEmptyValues(rows).ok());
  auto schema = arrow::schema({arrow::field("x", arrow::int64())});
  return arrow::RecordBatch::Make(schema, rows, {builder.Finish().ValueOrDie()});
}

// Reads each DoPut on a thread of its own, as the ingest pipeline's prefetching reader
// does, and records what that thread and the handler thread saw.
class RecordingServer : public fl::FlightServerBase {
 public:
  arrow::Status DoPut(const fl::ServerCallContext& context,
                      std::unique_ptr<fl::FlightMessageReader> reader,
                      std::unique_ptr<fl::FlightMetadataWriter> writer) override {
    auto limited = WithMessageLimits(std::move(reader), context);
    arrow::Status read_status;
    int64_t rows = 0;
    std::thread reading([&] {
      while (true) {
        auto chunk = limited->Next();
        if (!chunk.ok()) {
          read_status = chunk.status();
          return;
        }
        if (chunk->data == nullptr) return;
        rows += chunk->data->num_rows();
      }
    });
    reading.join();
    std::lock_guard<std::mutex> lock(mutex);
    reader_status = read_status;
    handler_refusal = TakeMessageRefusal();  // nothing may be left for the handler thread
    rows_read = rows;
    return read_status;
  }

  std::mutex mutex;  // guards the three below
  arrow::Status reader_status;
  arrow::Status handler_refusal;
  int64_t rows_read = 0;
};

class MessageLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto location = fl::Location::ForGrpcTcp("127.0.0.1", 0).ValueOrDie();
    fl::FlightServerOptions options(location);
    options.builder_hook = [](void* raw) {
      auto* builder = static_cast<grpc::ServerBuilder*>(raw);
      builder->SetMaxReceiveMessageSize(MaxReceiveMessageSize(kMaxBatchBytes));
      using Factory = grpc::experimental::ServerInterceptorFactoryInterface;
      std::vector<std::unique_ptr<Factory>> c;
      c.push_back(MakeMessageLimitsInterceptorFactory(kMaxBatchBytes));
      builder->experimental().SetInterceptorCreators(std::move(c));
    };
    ASSERT_TRUE(server_.Init(options).ok());
    auto at = fl::Location::ForGrpcTcp("127.0.0.1", server_.port()).ValueOrDie();
    client_ = fl::FlightClient::Connect(at).ValueOrDie();
  }

  void TearDown() override { (void)server_.Shutdown(); }

  arrow::Status Put(const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches) {
    fl::FlightCallOptions call;
    ARROW_ASSIGN_OR_RAISE(call.write_options.codec,
                          arrow::util::Codec::Create(arrow::Compression::ZSTD));
    ARROW_ASSIGN_OR_RAISE(
        auto put,
        client_->DoPut(call, fl::FlightDescriptor::Command("t"), batches[0]->schema()));
    for (const auto& batch : batches) {
      auto st = put.writer->WriteRecordBatch(*batch);
      if (!st.ok()) break;  // the server ended the call: Close() reports why
    }
    (void)put.writer->DoneWriting();
    return put.writer->Close();
  }

  RecordingServer server_;
  std::unique_ptr<fl::FlightClient> client_;
};

TEST_F(MessageLimitsTest, SmallCompressedBatchesPass) {
  ASSERT_TRUE(Put({Zeros(1000), Zeros(2000)}).ok());
  std::lock_guard<std::mutex> lock(server_.mutex);
  EXPECT_TRUE(server_.reader_status.ok()) << server_.reader_status.ToString();
  EXPECT_EQ(server_.rows_read, 3000);
}

// The evidence for the side channel: the refusal reaches the thread that called Next()
// (not the gRPC handler thread), so gRPC ran the interceptor on the reading thread.
TEST_F(MessageLimitsTest, RefusalReachesTheReadingThread) {
  // 8 MiB decoded, a few KiB on the wire.
  auto st = Put({Zeros(1000), Zeros(1 << 20)});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("record batch declares 8388608 bytes decoded, more than "
                              "limits.max_batch_bytes (1048576)"),
            std::string::npos)
      << st.ToString();
  std::lock_guard<std::mutex> lock(server_.mutex);
  EXPECT_TRUE(HasErrorKind(server_.reader_status, ErrorKind::kTooLarge))
      << server_.reader_status.ToString();
  EXPECT_EQ(server_.rows_read, 1000);
  EXPECT_TRUE(server_.handler_refusal.ok()) << server_.handler_refusal.ToString();
}

TEST_F(MessageLimitsTest, NextCallAfterARefusalIsClean) {
  ASSERT_FALSE(Put({Zeros(1 << 20)}).ok());
  ASSERT_TRUE(Put({Zeros(10)}).ok());
  std::lock_guard<std::mutex> lock(server_.mutex);
  EXPECT_TRUE(server_.reader_status.ok());
  EXPECT_EQ(server_.rows_read, 10);
}

TEST(MaxReceiveMessageSizeTest, BatchPlusHeadroomAtMostIntMax) {
  EXPECT_EQ(MaxReceiveMessageSize(int64_t{256} << 20), (256 + 16) << 20);
  EXPECT_EQ(MaxReceiveMessageSize(int64_t{64} << 30), INT_MAX);
}

}  // namespace message_limits_test
}  // namespace arrowport::flight
