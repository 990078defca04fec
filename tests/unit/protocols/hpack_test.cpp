#include "protocols/http2/hpack_decoder.h"

#include <gtest/gtest.h>

#include "protocols/http2/huffman.h"
#include "test_util.h"

namespace zerotrace::protocols {
namespace {

using testing::Bytes;
using testing::Fields;
using testing::Hex;

class Collect : public HeaderHandler {
 public:
  void OnHeader(std::string_view n, std::string_view v) override {
    fields.emplace_back(std::string(n), std::string(v));
  }
  Fields fields;
};

Fields Decode(HpackDecoder& d, std::string_view hex, HpackStatus want = HpackStatus::kOk) {
  Collect c;
  const std::string block = Hex(hex);
  EXPECT_EQ(d.Decode(Bytes(block), c), want) << hex;
  return c.fields;
}

void ExpectTable(const HpackDecoder& d, const Fields& want, size_t size) {
  EXPECT_EQ(d.table_size(), size);
  ASSERT_EQ(d.dynamic_entries(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    std::string_view n, v;
    ASSERT_TRUE(d.Lookup(62 + i, &n, &v));
    EXPECT_EQ(n, want[i].first);
    EXPECT_EQ(v, want[i].second);
  }
}

TEST(HpackTest, C2_1_LiteralWithIndexing) {
  HpackDecoder d;
  EXPECT_EQ(Decode(d, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
            (Fields{{"custom-key", "custom-header"}}));
  ExpectTable(d, {{"custom-key", "custom-header"}}, 55);
}

TEST(HpackTest, C2_2_LiteralWithoutIndexing) {
  HpackDecoder d;
  EXPECT_EQ(Decode(d, "040c 2f73 616d 706c 652f 7061 7468"), (Fields{{":path", "/sample/path"}}));
  ExpectTable(d, {}, 0);
}

TEST(HpackTest, C2_3_LiteralNeverIndexed) {
  HpackDecoder d;
  EXPECT_EQ(Decode(d, "1008 7061 7373 776f 7264 0673 6563 7265 74"),
            (Fields{{"password", "secret"}}));
  ExpectTable(d, {}, 0);
}

TEST(HpackTest, C2_4_Indexed) {
  HpackDecoder d;
  EXPECT_EQ(Decode(d, "82"), (Fields{{":method", "GET"}}));
  ExpectTable(d, {}, 0);
}

void RequestSequence(const char* b1, const char* b2, const char* b3) {
  HpackDecoder d;
  EXPECT_EQ(Decode(d, b1), (Fields{{":method", "GET"},
                                   {":scheme", "http"},
                                   {":path", "/"},
                                   {":authority", "www.example.com"}}));
  ExpectTable(d, {{":authority", "www.example.com"}}, 57);
  EXPECT_EQ(Decode(d, b2), (Fields{{":method", "GET"},
                                   {":scheme", "http"},
                                   {":path", "/"},
                                   {":authority", "www.example.com"},
                                   {"cache-control", "no-cache"}}));
  ExpectTable(d, {{"cache-control", "no-cache"}, {":authority", "www.example.com"}}, 110);
  EXPECT_EQ(Decode(d, b3), (Fields{{":method", "GET"},
                                   {":scheme", "https"},
                                   {":path", "/index.html"},
                                   {":authority", "www.example.com"},
                                   {"custom-key", "custom-value"}}));
  ExpectTable(d,
              {{"custom-key", "custom-value"},
               {"cache-control", "no-cache"},
               {":authority", "www.example.com"}},
              164);
}

TEST(HpackTest, C3_RequestsWithoutHuffman) {
  RequestSequence("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                  "8286 84be 5808 6e6f 2d63 6163 6865",
                  "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65");
}

TEST(HpackTest, C4_RequestsWithHuffman) {
  RequestSequence("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
                  "8286 84be 5886 a8eb 1064 9cbf",
                  "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf");
}

void ResponseSequence(const char* b1, const char* b2, const char* b3) {
  HpackDecoder d;
  // The examples use a 256-octet table: reached with a size update, as a peer would send.
  Decode(d, "3fe1 01");  // size update to 256
  EXPECT_EQ(d.max_table_size(), 256u);
  const std::string date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
  const std::string date2 = "Mon, 21 Oct 2013 20:13:22 GMT";
  const std::string loc = "https://www.example.com";
  const std::string cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
  EXPECT_EQ(Decode(d, b1), (Fields{{":status", "302"},
                                   {"cache-control", "private"},
                                   {"date", date1},
                                   {"location", loc}}));
  ExpectTable(d,
              {{"location", loc}, {"date", date1}, {"cache-control", "private"}, {":status", "302"}},
              222);
  EXPECT_EQ(Decode(d, b2), (Fields{{":status", "307"},
                                   {"cache-control", "private"},
                                   {"date", date1},
                                   {"location", loc}}));
  ExpectTable(d,
              {{":status", "307"}, {"location", loc}, {"date", date1}, {"cache-control", "private"}},
              222);
  EXPECT_EQ(Decode(d, b3), (Fields{{":status", "200"},
                                   {"cache-control", "private"},
                                   {"date", date2},
                                   {"location", loc},
                                   {"content-encoding", "gzip"},
                                   {"set-cookie", cookie}}));
  ExpectTable(d, {{"set-cookie", cookie}, {"content-encoding", "gzip"}, {"date", date2}}, 215);
}

TEST(HpackTest, C5_ResponsesWithoutHuffman) {
  ResponseSequence(
      "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a "
      "3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
      "4803 3330 37c1 c0bf",
      "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 "
      "677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 "
      "553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31");
}

TEST(HpackTest, C6_ResponsesWithHuffman) {
  ResponseSequence(
      "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e "
      "919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
      "4883 640e ffc1 c0bf",
      "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 "
      "821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed "
      "4ee5 b106 3d50 07");
}

TEST(HpackTest, HuffmanRoundTripAllBytes) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  std::string enc, dec;
  HuffmanEncode(all, &enc);
  ASSERT_TRUE(HuffmanDecode(Bytes(enc), &dec));
  EXPECT_EQ(dec, all);
  // RFC 7541 C.4.1: "www.example.com".
  dec.clear();
  const std::string www = Hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff");
  ASSERT_TRUE(HuffmanDecode(Bytes(www), &dec));
  EXPECT_EQ(dec, "www.example.com");
}

TEST(HpackTest, HuffmanRejectsBadPadding) {
  std::string out;
  EXPECT_FALSE(HuffmanDecode(Bytes(Hex("00")), &out));        // '0' + zero padding
  EXPECT_FALSE(HuffmanDecode(Bytes(Hex("ffff ffff")), &out));  // EOS in the string
  EXPECT_FALSE(HuffmanDecode(Bytes(Hex("1fff")), &out));       // padding longer than 7 bits
  out.clear();
  EXPECT_TRUE(HuffmanDecode(Bytes(Hex("07")), &out));          // '0' + 3 bits of padding
  EXPECT_EQ(out, "0");
}

TEST(HpackTest, TableSizeUpdates) {
  HpackDecoder d;
  Decode(d, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
  EXPECT_EQ(Decode(d, "20 82"), (Fields{{":method", "GET"}}));  // size 0 empties the table
  EXPECT_EQ(d.dynamic_entries(), 0u);
  EXPECT_EQ(d.max_table_size(), 0u);
  Decode(d, "3fe1 1f 82");  // back to 4096
  EXPECT_EQ(d.max_table_size(), 4096u);
  Decode(d, "3fe2 1f", HpackStatus::kTableSizeError);  // 4097 > SETTINGS limit
  EXPECT_TRUE(d.desynced());
  Decode(d, "82", HpackStatus::kDesynced);

  HpackDecoder late;
  Decode(late, "82 20", HpackStatus::kTableSizeError);  // update after a field

  HpackDecoder raised;
  raised.SetAllowedMaxTableSize(8192);
  Decode(raised, "3fe1 3f");  // 8192
  EXPECT_EQ(raised.max_table_size(), 8192u);
}

TEST(HpackTest, MidStreamJoinIndexedReferenceIsBadIndexButTableStaysUsable) {
  HpackDecoder d;
  // 0xbe = index 62: an entry inserted before we started listening.
  EXPECT_EQ(Decode(d, "82 be 86", HpackStatus::kBadIndex),
            (Fields{{":method", "GET"}, {":scheme", "http"}}));
  EXPECT_FALSE(d.desynced());
  // Inserting with a name we do not know poisons the table for good.
  Decode(d, "7e 03 61 62 63", HpackStatus::kBadIndex);  // literal, indexed name 62+
  EXPECT_TRUE(d.desynced());
}

TEST(HpackTest, TruncatedAndOverflowingInputs) {
  HpackDecoder a;
  Decode(a, "400a 6375 7374", HpackStatus::kTruncated);
  HpackDecoder b;
  Decode(b, "ff ff ff ff ff ff ff 01", HpackStatus::kBadInteger);
  HpackDecoder c;
  Decode(c, "80", HpackStatus::kBadIndex);  // index 0
}

}  // namespace
}  // namespace zerotrace::protocols
