#include "symbolizer/demangle.h"

#include <gtest/gtest.h>

namespace zerotrace::symbolizer {
namespace {

TEST(DemangleTest, DemanglesItaniumNames) {
  EXPECT_EQ(Demangle("_ZN3foo3barEv"), "foo::bar()");
  EXPECT_EQ(Demangle("_ZN9zerotrace9profiling16ProfileCollector4PollEv"),
            "zerotrace::profiling::ProfileCollector::Poll()");
}

TEST(DemangleTest, LeavesOtherNamesAlone) {
  EXPECT_EQ(Demangle("main"), "main");
  EXPECT_EQ(Demangle("_Z"), "_Z");
  EXPECT_EQ(Demangle("_Znotvalid!"), "_Znotvalid!");
  EXPECT_EQ(Demangle(""), "");
}

}  // namespace
}  // namespace zerotrace::symbolizer
