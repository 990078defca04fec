#include "tracing/id_generator.h"

namespace zerotrace::tracing {
namespace {

std::mt19937_64 SeededEngine() {
  std::random_device rd;
  std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
  return std::mt19937_64(seq);
}

void StoreBigEndian(uint64_t v, uint8_t* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
}

}  // namespace

IdGenerator::IdGenerator() : engine_(SeededEngine()) {}
IdGenerator::IdGenerator(uint64_t seed) : engine_(seed) {}

uint64_t IdGenerator::NextNonZero() {
  uint64_t v = 0;
  while (v == 0) v = engine_();
  return v;
}

TraceId IdGenerator::NewTraceId() {
  TraceId id{};
  std::lock_guard<std::mutex> lock(mu_);
  // Both halves non-zero ⇒ never all-zero; the low 8 bytes (used by the ratio sampler) stay
  // uniformly random.
  StoreBigEndian(NextNonZero(), id.data());
  StoreBigEndian(NextNonZero(), id.data() + 8);
  return id;
}

SpanId IdGenerator::NewSpanId() {
  SpanId id{};
  std::lock_guard<std::mutex> lock(mu_);
  StoreBigEndian(NextNonZero(), id.data());
  return id;
}

}  // namespace zerotrace::tracing
