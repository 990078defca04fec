// The shared text helpers of core/: UTF-8 repair and gzip, used by labels, spans, logs, pprof and
// OTLP bodies alike.
#include <gtest/gtest.h>

#include <string>

#include "core/gzip.h"
#include "core/split.h"
#include "core/utf8.h"

namespace zerotrace {
namespace {

constexpr const char* kFffd = "\xEF\xBF\xBD";

std::string Fffd(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += kFffd;
  return out;
}

TEST(Utf8Test, ValidTextIsUnchanged) {
  EXPECT_EQ(ToValidUtf8("plain ascii"), "plain ascii");
  EXPECT_EQ(ToValidUtf8("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"),
            "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(ToValidUtf8(std::string("nul\0inside", 10)), std::string("nul\0inside", 10));
}

TEST(Utf8Test, EveryInvalidByteBecomesOneReplacementCharacter) {
  EXPECT_EQ(ToValidUtf8("a\xff"
                        "b"),
            "a" + Fffd(1) + "b");
  EXPECT_EQ(ToValidUtf8("\xc0\x80"), Fffd(2));          // overlong
  EXPECT_EQ(ToValidUtf8("\xed\xa0\x80"), Fffd(3));      // surrogate
  EXPECT_EQ(ToValidUtf8("\xf4\x90\x80\x80"), Fffd(4));  // above U+10FFFF
  EXPECT_EQ(ToValidUtf8("\xe2\x82"), Fffd(2));          // truncated
  EXPECT_EQ(Utf8SequenceLength("\xe2\x82\xac", 0), 3u);
  EXPECT_EQ(Utf8SequenceLength("\x80", 0), 0u);  // a lone continuation byte
}

TEST(GzipTest, RoundTripAndLimits) {
  std::string data;
  for (int i = 0; i < 100000; ++i) data += std::to_string(i);
  auto gz = GzipCompress(data);
  ASSERT_TRUE(gz.ok()) << gz.error().message;
  EXPECT_LT(gz->size(), data.size());
  EXPECT_EQ(static_cast<uint8_t>((*gz)[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<uint8_t>((*gz)[1]), 0x8b);
  auto back = GzipDecompress(*gz, 1u << 20);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, data);
  auto fastest = GzipCompress(data, 1);
  ASSERT_TRUE(fastest.ok());
  EXPECT_EQ(*GzipDecompress(*fastest, 1u << 20), data);
}

TEST(GzipTest, HostileInputIsAnErrorNeverAHugeOrShortResult) {
  auto gz = GzipCompress(std::string(1u << 20, 'a'));
  ASSERT_TRUE(gz.ok());
  auto over = GzipDecompress(*gz, 1000);  // a small bomb against a small limit
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.error().message.find("exceeds 1000 bytes"), std::string::npos);
  EXPECT_FALSE(GzipDecompress(gz->substr(0, gz->size() / 2), 1u << 21).ok());  // truncated
  EXPECT_FALSE(GzipDecompress("definitely not gzip", 1u << 20).ok());
  EXPECT_FALSE(GzipDecompress("", 1u << 20).ok());
  EXPECT_FALSE(GzipCompress("x", 42).ok());  // no such level
}

}  // namespace
}  // namespace zerotrace

namespace zerotrace {
namespace {

TEST(SplitListTest, SkipsEmptyItems) {
  EXPECT_EQ(SplitList("a,b,,c,"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(SplitList("").empty());
  EXPECT_TRUE(SplitList(",,").empty());
  EXPECT_EQ(SplitList("one"), (std::vector<std::string>{"one"}));
  EXPECT_EQ(SplitList("x:y", ':'), (std::vector<std::string>{"x", "y"}));
}

}  // namespace
}  // namespace zerotrace
