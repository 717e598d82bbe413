#include "arrowport/http/request_body.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <string>

#include "arrow/util/compression.h"
#include "arrowport/common/status_detail.h"

namespace arrowport::http {
namespace request_body_test {

// Some text that compresses, large enough to decode to several output pieces.
std::string Text(size_t bytes) {
  std::mt19937 random(7);
  std::string text;
  while (text.size() < bytes) text += "row " + std::to_string(random() % 1000) + ", ";
  text.resize(bytes);
  return text;
}

std::string Coded(arrow::Compression::type type, const std::string& plain) {
  auto codec = arrow::util::Codec::Create(type).ValueOrDie();
  const auto* in = reinterpret_cast<const uint8_t*>(plain.data());
  std::string out(static_cast<size_t>(codec->MaxCompressedLen(plain.size(), in)), '\0');
  const int64_t written =
      codec->Compress(plain.size(), in, out.size(), reinterpret_cast<uint8_t*>(out.data()))
          .ValueOrDie();
  out.resize(static_cast<size_t>(written));
  return out;
}

struct Decoded {
  std::string bytes;
  arrow::Status status;  // of the first Decode that failed, else of Finish
};

// Feeds `coded` in pieces of `piece` bytes, as a body arrives.
Decoded Decode(const std::string& coding, const std::string& coded, size_t piece) {
  Decoded out;
  auto decoder = BodyDecoder::Make(coding).ValueOrDie();
  const BodyReceiver receive = [&](const char* data, size_t length) {
    EXPECT_LE(length, 64u * 1024);
    out.bytes.append(data, length);
    return arrow::Status::OK();
  };
  for (size_t at = 0; at < coded.size(); at += piece) {
    out.status = decoder.Decode(coded.data() + at, std::min(piece, coded.size() - at), receive);
    if (!out.status.ok()) return out;
  }
  out.status = decoder.Finish();
  return out;
}

TEST(BodyDecoderTest, AWholeBodyDecodesInAnyPieces) {
  const std::string plain = Text(300 * 1024);
  for (auto [coding, type] : {std::pair{"gzip", arrow::Compression::GZIP},
                              std::pair{"zstd", arrow::Compression::ZSTD}}) {
    const std::string coded = Coded(type, plain);
    for (size_t piece : {size_t{1}, size_t{7}, size_t{4096}, coded.size()}) {
      auto decoded = Decode(coding, coded, piece);
      ASSERT_TRUE(decoded.status.ok()) << coding << " " << piece << ": " << decoded.status;
      EXPECT_EQ(decoded.bytes, plain) << coding << " " << piece;
    }
  }
}

TEST(BodyDecoderTest, ABombDecodesInPiecesALimitStops) {
  // 16 MiB of zeros from a body of kilobytes: each piece is handed on at most 64 KiB at a
  // time, so a limit in the receiver stops it at once.
  const std::string coded = Coded(arrow::Compression::GZIP, std::string(16 << 20, '\0'));
  ASSERT_LT(coded.size(), 64u * 1024);
  auto decoder = BodyDecoder::Make("gzip").ValueOrDie();
  size_t seen = 0;
  auto st = decoder.Decode(coded.data(), coded.size(), [&](const char*, size_t length) {
    seen += length;
    return seen > 1 << 20 ? arrow::Status::CapacityError("limit") : arrow::Status::OK();
  });
  EXPECT_TRUE(st.IsCapacityError()) << st;
  EXPECT_LE(seen, (1u << 20) + 64 * 1024);
  EXPECT_EQ(Decode("gzip", coded, coded.size()).bytes.size(), size_t{16} << 20);
}

TEST(BodyDecoderTest, ABodyCutShortIsRefusedWhereverItIsCut) {
  // Cut in its trailer (gzip's CRC and length) the body decodes to every byte without an
  // error: only its missing end tells. httplib took that for a whole body.
  const std::string plain = Text(100 * 1024);
  for (auto [coding, type] : {std::pair{"gzip", arrow::Compression::GZIP},
                              std::pair{"zstd", arrow::Compression::ZSTD}}) {
    const std::string coded = Coded(type, plain);
    for (size_t cut : {size_t{0}, size_t{5}, coded.size() / 2, coded.size() - 8,
                       coded.size() - 1}) {
      auto decoded = Decode(coding, coded.substr(0, cut), 4096);
      EXPECT_TRUE(decoded.status.IsInvalid()) << coding << " cut at " << cut;
      EXPECT_NE(decoded.status.message().find("stream is cut short"), std::string::npos)
          << decoded.status;
    }
  }
}

TEST(BodyDecoderTest, MembersInARowAreOneBodyGarbageAfterIsRefused) {
  const std::string a = Text(70 * 1024), b = "and then some";
  for (auto [coding, type] : {std::pair{"gzip", arrow::Compression::GZIP},
                              std::pair{"zstd", arrow::Compression::ZSTD}}) {
    const std::string two = Coded(type, a) + Coded(type, b);
    auto decoded = Decode(coding, two, 1000);
    ASSERT_TRUE(decoded.status.ok()) << coding << ": " << decoded.status;
    EXPECT_EQ(decoded.bytes, a + b);
    EXPECT_TRUE(Decode(coding, Coded(type, a) + "garbage!", 1000).status.IsInvalid()) << coding;
  }
}

TEST(BodyDecoderTest, AZstdFrameAskingForAWindowOver8MiBIsRefused) {
  // A frame header declaring a 128 MiB window (windowLog 27), as zstd --long writes:
  // libzstd would allocate the window for it; refused before anything is allocated.
  const std::string plain = Text(1000);
  const std::string small = Coded(arrow::Compression::ZSTD, plain);
  std::string wide = std::string("\x28\xb5\x2f\xfd", 4) +  // magic
                     std::string("\x00", 1) +                // descriptor: window given
                     std::string(1, static_cast<char>((27 - 10) << 3)) + "\x00\x00\x00";
  auto decoded = Decode("zstd", wide, wide.size());
  EXPECT_TRUE(decoded.status.IsInvalid()) << decoded.status;
  EXPECT_NE(decoded.status.message().find("window over 8 MiB"), std::string::npos)
      << decoded.status;
  EXPECT_TRUE(Decode("zstd", small, 7).status.ok());
}

// A zstd frame with an 8 MiB window (windowLog 23) and no content size, whose blocks
// each repeat one byte 128 KiB times (RLE): `blocks` of them, the last one marked.
std::string WideRleFrame(int blocks) {
  std::string frame = std::string("\x28\xb5\x2f\xfd", 4) + std::string("\x00", 1) +
                      std::string(1, static_cast<char>((23 - 10) << 3));
  for (int i = 0; i < blocks; ++i) {
    const uint32_t header = (i + 1 == blocks ? 1u : 0u) | (1u << 1) | (131072u << 3);
    frame += std::string{static_cast<char>(header & 0xff), static_cast<char>(header >> 8),
                         static_cast<char>(header >> 16), 'x'};
  }
  return frame;
}

TEST(BodyDecoderTest, AZstdWindowIsChargedAsItIsUsed) {
  // libzstd allocates the frame's whole window when it reads the header. Charged then,
  // 17 bytes of header stalled on 62 connections held a 512 MiB budget (an attack run).
  auto budget = MemoryBudget::Make(int64_t{64} << 20);
  auto charge = budget->Reserve(0, "test").ValueOrDie();
  auto decoder = BodyDecoder::Make("zstd", &charge).ValueOrDie();
  const std::string frame = WideRleFrame(80);  // 10 MiB from 326 bytes
  size_t out = 0;
  const BodyReceiver count = [&](const char*, size_t length) {
    out += length;
    return arrow::Status::OK();
  };
  ASSERT_TRUE(decoder.Decode(frame.data(), 6, count).ok());
  EXPECT_LT(charge.bytes(), int64_t{1} << 20);
  // Once the bytes pass through it, the window is charged.
  ASSERT_TRUE(decoder.Decode(frame.data() + 6, frame.size() - 6, count).ok());
  EXPECT_EQ(out, 80u * 131072);
  EXPECT_GE(charge.bytes(), int64_t{8} << 20);
  EXPECT_EQ(budget->used(), charge.bytes());
  // A budget without room for it: the server is busy (503), the body is not at fault.
  auto small = MemoryBudget::Make(int64_t{4} << 20, std::chrono::milliseconds(10));
  auto small_charge = small->Reserve(0, "test").ValueOrDie();
  auto refused = BodyDecoder::Make("zstd", &small_charge).ValueOrDie();
  const arrow::Status st = refused.Decode(frame.data(), frame.size(), count);
  EXPECT_TRUE(HasErrorKind(st, ErrorKind::kResourceExhausted)) << st;
  EXPECT_LE(small->used(), int64_t{4} << 20);
}

TEST(BodyDecoderTest, ACorruptBodyIsRefusedWithWhy) {
  std::string coded = Coded(arrow::Compression::GZIP, Text(10000));
  coded[coded.size() - 6] ^= 0x55;  // the CRC
  auto decoded = Decode("gzip", coded, coded.size());
  EXPECT_TRUE(decoded.status.IsInvalid()) << decoded.status;
  EXPECT_NE(decoded.status.message().find("gzip coding could not be decoded at byte"), std::string::npos)
      << decoded.status;
  EXPECT_TRUE(BodyDecoder::Make("br").status().IsInvalid());
}

}  // namespace request_body_test
}  // namespace arrowport::http
