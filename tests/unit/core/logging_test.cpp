#include <gtest/gtest.h>

#include "core/logging.h"

namespace zerotrace {
namespace {

TEST(LoggingTest, JsonEscape) {
  EXPECT_EQ(JsonEscape("plain"), "plain");
  EXPECT_EQ(JsonEscape("caf\xe9"), "caf\xEF\xBF\xBD");  // invalid UTF-8 would break the line
  EXPECT_EQ(JsonEscape("a\"b\\c\nd\te"), "a\\\"b\\\\c\\nd\\te");
  EXPECT_EQ(JsonEscape(std::string("\x01", 1)), "\\u0001");
}

TEST(LoggingTest, RejectsUnknownFormat) { EXPECT_FALSE(SetupLogging("xml", "info").ok()); }

}  // namespace
}  // namespace zerotrace
