#include <gtest/gtest.h>

#include <string>

#include "gpu/kernel_names.h"

namespace zerotrace::gpu {
namespace {

TEST(KernelNames, Demangles) {
  EXPECT_EQ(DemangleKernelName("_Z6vecAddPKfS0_Pfi"),
            "vecAdd(float const*, float const*, float*, int)");
  EXPECT_EQ(DemangleKernelName("plain_c_kernel"), "plain_c_kernel");
  EXPECT_EQ(DemangleKernelName(""), "unknown");
  EXPECT_EQ(DemangleKernelName("_Znot_valid!"), "_Znot_valid!");
}

TEST(KernelNames, ShortensParameterLists) {
  EXPECT_EQ(ShortenKernelName("vecAdd(float const*, float const*, float*, int)"), "vecAdd");
  EXPECT_EQ(ShortenKernelName("ns::k(int) const"), "ns::k");
  EXPECT_EQ(ShortenKernelName("(anonymous namespace)::k(int (*)(int))"),
            "(anonymous namespace)::k");
  EXPECT_EQ(ShortenKernelName("plain"), "plain");
  EXPECT_EQ(ShortenKernelName(""), "unknown");
}

TEST(KernelNames, DropsTemplateReturnTypeAndCollapsesLongTemplates) {
  // Short templates stay; the return type of a template function goes.
  EXPECT_EQ(ShortenKernelName("void gemm<float, 128>(float*, int)"), "gemm<float, 128>");
  EXPECT_EQ(DemangleKernelName("_Z4gemmIfLi128EEvPT_i"), "void gemm<float, 128>(float*, int)");
  const std::string demangled =
      "void cutlass::Kernel<cutlass::gemm::kernel::Gemm<cutlass::gemm::threadblock::MmaPipelined<"
      "cutlass::gemm::GemmShape<128, 128, 8>>>>(cutlass::gemm::kernel::Gemm<int>::Params)";
  const std::string s = ShortenKernelName(demangled, 40);
  EXPECT_LE(s.size(), 40u) << s;
  EXPECT_EQ(s, "cutlass::Kernel<...>") << demangled;
  // Nothing to collapse: cut.
  const std::string long_name(200, 'a');
  const std::string cut = ShortenKernelName(long_name, 20);
  EXPECT_EQ(cut.size(), 20u);
  EXPECT_EQ(cut.substr(17), "...");
}

TEST(KernelNames, CacheMemoizesAndStaysBounded) {
  KernelNameCache cache(2);
  EXPECT_EQ(cache.Get("_Z6vecAddPKfS0_Pfi")->short_, "vecAdd");
  EXPECT_EQ(cache.Get("_Z6vecAddPKfS0_Pfi")->full,
            "vecAdd(float const*, float const*, float*, int)");
  cache.Get("a");
  cache.Get("b");
  EXPECT_LE(cache.size(), 2u);
}

TEST(LabelBound, OverflowGoesToOther) {
  LabelBound bound(2);
  EXPECT_EQ(bound.Bound("svc", "a"), "a");
  EXPECT_EQ(bound.Bound("svc", "b"), "b");
  EXPECT_EQ(bound.Bound("svc", "c"), "other");
  EXPECT_EQ(bound.Bound("svc", "a"), "a");        // known values keep their label
  EXPECT_EQ(bound.Bound("other-svc", "c"), "c");  // per service
  bound.ForgetService("svc");
  EXPECT_EQ(bound.Bound("svc", "c"), "c");
}

}  // namespace
}  // namespace zerotrace::gpu
