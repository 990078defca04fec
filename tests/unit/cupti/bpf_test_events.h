#pragma once
// Shared by the cuda and cupti BPF tests: owning a skeleton and its links, and copying ring
// buffer events of a known type.
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <vector>

namespace zerotrace::testing {

// Appends the event at `data` as a T, failing the test when the event is shorter than T.
template <typename T>
void PushEvent(std::vector<T>* v, const void* data, size_t size) {
  ASSERT_GE(size, sizeof(T));
  v->push_back(*static_cast<const T*>(data));
}

// A loaded skeleton and the links a test attached; links go before the object.
template <typename Skeleton, Skeleton* (*OpenAndLoad)(), void (*Destroy)(Skeleton*)>
struct OwnedSkeleton {
  Skeleton* s = OpenAndLoad();
  std::vector<bpf_link*> links;
  OwnedSkeleton() = default;
  OwnedSkeleton(const OwnedSkeleton&) = delete;
  OwnedSkeleton& operator=(const OwnedSkeleton&) = delete;
  ~OwnedSkeleton() {
    for (auto* l : links) bpf_link__destroy(l);
    Destroy(s);
  }
};

}  // namespace zerotrace::testing
