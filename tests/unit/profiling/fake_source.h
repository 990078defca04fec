#pragma once

#include <cerrno>
#include <map>
#include <vector>

#include "probes/stack_source.h"
#include "symbolizer/symbolizer.h"

namespace zerotrace::profiling::testing {

// A stack source the test fills by hand: stacks by id (leaf first) and the next drain's counts.
class FakeSource : public StackSource {
 public:
  explicit FakeSource(profile::ProfileType type = profile::ProfileType::kOnCpu) : type_(type) {}
  profile::ProfileType profile_type() const override { return type_; }
  uint64_t sample_period_ns() const override {
    return type_ == profile::ProfileType::kOnCpu ? 10000000 : 0;
  }
  Result<std::vector<RawStackCount>> Drain() override {
    std::vector<RawStackCount> out;
    out.swap(pending);
    return out;
  }
  bool ReadStack(int32_t id, std::vector<uint64_t>* leaf_first) override {
    ++reads;
    auto it = stacks.find(id);
    if (it == stacks.end()) return false;
    *leaf_first = it->second;
    return true;
  }
  void ClearStacks() override {
    stacks.clear();
    ++clears;
  }
  void DeleteStack(int32_t id) override { deleted.push_back(id); }
  bool delete_stacks_after_read() const override { return delete_after_read; }
  uint32_t stack_capacity() const override { return capacity; }
  uint32_t max_stack_depth() const override { return depth; }
  uint64_t kernel_drops() const override { return 7; }
  uint64_t kernel_stack_drops() const override { return 5; }

  std::map<int32_t, std::vector<uint64_t>> stacks;
  std::vector<RawStackCount> pending;
  uint32_t capacity = 1000;
  uint32_t depth = 127;
  int reads = 0;
  int clears = 0;
  bool delete_after_read = false;
  std::vector<int32_t> deleted;

 private:
  profile::ProfileType type_;
};

// Names addresses "<prefix><pid>_<hex>" so tests can see which symbolizer resolved what.
class NamingSymbolizer : public symbolizer::Symbolizer {
 public:
  NamingSymbolizer(std::string prefix, profile::FrameKind kind)
      : prefix_(std::move(prefix)), kind_(kind) {}
  profile::Frame Symbolize(uint32_t pid, uint64_t address) override {
    profile::Frame f;
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%s%u_%lx", prefix_.c_str(), pid,
                  static_cast<unsigned long>(address));
    f.function = buf;
    f.address = address;
    f.kind = kind_;
    return f;
  }
  void Prepare(uint32_t pid) override { prepared.push_back(pid); }
  std::vector<uint32_t> prepared;

 private:
  std::string prefix_;
  profile::FrameKind kind_;
};

inline RawStackCount Count(uint32_t pid, int32_t kid, int32_t uid, uint64_t value,
                           std::string comm = "app") {
  RawStackCount r;
  r.tgid = pid;
  r.tid = pid;
  r.kstack_id = kid;
  r.ustack_id = uid;
  r.count = value;
  r.value = value;
  r.comm = std::move(comm);
  return r;
}

}  // namespace zerotrace::profiling::testing
