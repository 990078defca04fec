// MergedRingReader over rings laid out in memory as the kernel maps a BPF ring buffer, so the
// merge order, busy and discarded records and wrap-around are checked record by record.
#include "probes/merged_ring_reader.h"

#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <cstring>
#include <vector>

namespace zerotrace {
namespace {

struct Record {
  uint64_t ts;
  uint32_t tag;
};

// One ring of kBytes whose data reads twice in a row, as the kernel's double mapping does.
class FakeRing {
 public:
  static constexpr uint64_t kBytes = 4096;

  explicit FakeRing(uint64_t start = 0) : consumer_(start), producer_(start) {}

  // Appends a record; `flags` may hold BPF_RINGBUF_BUSY_BIT or BPF_RINGBUF_DISCARD_BIT.
  // Returns the position of its header.
  uint64_t Put(uint64_t ts, uint32_t tag, uint32_t flags = 0) {
    const Record r{ts, tag};
    const uint32_t word = static_cast<uint32_t>(sizeof(r)) | flags;
    const uint64_t at = producer_;
    Write(at, &word, sizeof(word));
    const uint32_t pg_off = 0;
    Write(at + 4, &pg_off, sizeof(pg_off));
    Write(at + BPF_RINGBUF_HDR_SZ, &r, sizeof(r));
    producer_ += (sizeof(r) + BPF_RINGBUF_HDR_SZ + 7) & ~7ull;
    return at;
  }
  void Commit(uint64_t at) {
    uint32_t word;
    std::memcpy(&word, &data_[at & (kBytes - 1)], sizeof(word));
    word &= ~static_cast<uint32_t>(BPF_RINGBUF_BUSY_BIT);
    Write(at, &word, sizeof(word));
  }
  void AddTo(MergedRingReader& reader) {
    reader.AddMapped(&consumer_, &producer_, data_.data(), kBytes);
  }
  uint64_t consumer() const { return consumer_; }
  uint64_t producer() const { return producer_; }

 private:
  void Write(uint64_t pos, const void* src, size_t n) {
    const auto* b = static_cast<const uint8_t*>(src);
    for (size_t i = 0; i < n; ++i) {
      const uint64_t off = (pos + i) & (kBytes - 1);
      data_[off] = b[i];
      data_[off + kBytes] = b[i];
    }
  }
  uint64_t consumer_;
  uint64_t producer_;
  std::vector<uint8_t> data_ = std::vector<uint8_t>(2 * kBytes);
};

std::vector<uint32_t> Drain(MergedRingReader& reader, int* handed = nullptr) {
  std::vector<uint32_t> tags;
  const int n = reader.Poll(0, offsetof(Record, ts), [&](const void* data, size_t size) {
    EXPECT_EQ(size, sizeof(Record));
    Record r;
    std::memcpy(&r, data, sizeof(r));
    tags.push_back(r.tag);
  });
  if (handed) *handed = n;
  return tags;
}

TEST(MergedRingReaderTest, RecordsOfTwoRingsComeOutByTimestamp) {
  FakeRing a, b;
  MergedRingReader reader;
  a.AddTo(reader);
  b.AddTo(reader);
  // A thread read on one CPU and wrote its answer on the other: the answer must not come first.
  a.Put(10, 1);
  b.Put(15, 2);
  a.Put(20, 3);
  a.Put(30, 4);
  b.Put(25, 5);
  int handed = 0;
  EXPECT_EQ(Drain(reader, &handed), (std::vector<uint32_t>{1, 2, 3, 5, 4}));
  EXPECT_EQ(handed, 5);
  EXPECT_EQ(a.consumer(), a.producer());
  EXPECT_EQ(b.consumer(), b.producer());
  EXPECT_TRUE(Drain(reader).empty());
}

TEST(MergedRingReaderTest, ABusyRecordHoldsBackItsRingOnly) {
  FakeRing a, b;
  MergedRingReader reader;
  a.AddTo(reader);
  b.AddTo(reader);
  const uint64_t busy = a.Put(10, 1, BPF_RINGBUF_BUSY_BIT);
  a.Put(11, 2);
  b.Put(20, 3);
  EXPECT_EQ(Drain(reader), (std::vector<uint32_t>{3}));
  EXPECT_EQ(a.consumer(), 0u);  // nothing of ring a was consumed past the busy record
  a.Commit(busy);
  EXPECT_EQ(Drain(reader), (std::vector<uint32_t>{1, 2}));
}

TEST(MergedRingReaderTest, DiscardedRecordsAreSkipped) {
  FakeRing a;
  MergedRingReader reader;
  a.AddTo(reader);
  a.Put(1, 1);
  a.Put(2, 2, BPF_RINGBUF_DISCARD_BIT);
  a.Put(3, 3);
  EXPECT_EQ(Drain(reader), (std::vector<uint32_t>{1, 3}));
  EXPECT_EQ(a.consumer(), a.producer());
}

TEST(MergedRingReaderTest, RecordsAcrossTheRingsEndReadWhole) {
  // Start 8 bytes short of the end: the first record's header and body wrap around.
  FakeRing a(FakeRing::kBytes * 3 - 8);
  MergedRingReader reader;
  a.AddTo(reader);
  // Two laps of 150 records (24 bytes each, 3,600 of the ring's 4,096), drained in between as
  // the kernel would not overwrite unread records.
  for (uint32_t lap = 0; lap < 2; ++lap) {
    for (uint32_t i = 0; i < 150; ++i) a.Put(100 + lap * 150 + i, lap * 150 + i);
    const std::vector<uint32_t> got = Drain(reader);
    ASSERT_EQ(got.size(), 150u);
    for (uint32_t i = 0; i < 150; ++i) EXPECT_EQ(got[i], lap * 150 + i);
  }
  EXPECT_EQ(a.consumer(), a.producer());
}

TEST(MergedRingReaderTest, RejectsARingSizeThatIsNotAPowerOfTwo) {
  MergedRingReader reader;
  EXPECT_FALSE(reader.Add(-1, 3 * 4096).ok());
  EXPECT_EQ(reader.rings(), 0u);
  EXPECT_EQ(reader.Poll(0, 0, [](const void*, size_t) {}), 0);
}

}  // namespace
}  // namespace zerotrace
