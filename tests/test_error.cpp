#include <gtest/gtest.h>

#include "util/error.hpp"

TEST(Error, FailFormatsAllParts) {
  try {
    lpt::fail("layers must be >= ", 1, ", got ", -3, "; set model.layers");
    FAIL() << "fail() returned";
  } catch (const lpt::Error& e) {
    EXPECT_STREQ(e.what(), "layers must be >= 1, got -3; set model.layers");
  }
}

TEST(Error, RequirePassesWhenTrue) { EXPECT_NO_THROW(lpt::require(true, "unused")); }
