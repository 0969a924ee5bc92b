#include "baton/federation/nonce_cache.hpp"

#include <gtest/gtest.h>

#include <string>

namespace baton::federation {
namespace {

using Outcome = NonceCache::Outcome;

TEST(NonceCache, RemembersUntilForgetTime) {
  NonceCache cache(10);
  EXPECT_EQ(cache.remember("n1", 5'000, 1'000), Outcome::remembered);
  EXPECT_EQ(cache.remember("n1", 5'000, 4'999), Outcome::replayed);
  EXPECT_EQ(cache.remember("n1", 9'000, 5'000), Outcome::remembered);  // forgotten at 5000
  EXPECT_EQ(cache.size(), 1u);
}

TEST(NonceCache, RefusesWhenFullOfLiveNonces) {
  NonceCache cache(3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(cache.remember("n" + std::to_string(i), 10'000, 0), Outcome::remembered);
  }
  EXPECT_EQ(cache.remember("extra", 10'000, 1), Outcome::full);
  // Nothing live was forgotten to make room.
  EXPECT_EQ(cache.remember("n0", 10'000, 2), Outcome::replayed);
  EXPECT_EQ(cache.size(), 3u);
}

TEST(NonceCache, EvictsExpiredEntriesFirst) {
  NonceCache cache(3);
  EXPECT_EQ(cache.remember("old", 1'000, 0), Outcome::remembered);
  EXPECT_EQ(cache.remember("a", 10'000, 0), Outcome::remembered);
  EXPECT_EQ(cache.remember("b", 10'000, 0), Outcome::remembered);
  EXPECT_EQ(cache.remember("c", 10'000, 1'000), Outcome::remembered);  // "old" made room
  EXPECT_EQ(cache.size(), 3u);
}

TEST(NonceCache, StaysBoundedUnderSustainedLoad) {
  NonceCache cache(1000);
  std::size_t refused = 0;
  for (int i = 0; i < 100'000; ++i) {
    core::Millis now = i * 10;  // 100 per second, each kept 5 s: about 500 live
    if (cache.remember("n" + std::to_string(i), now + 5'000, now) == Outcome::full) ++refused;
    ASSERT_LE(cache.size(), 1000u);
  }
  EXPECT_EQ(refused, 0u);
  for (int i = 0; i < 5'000; ++i) {  // a burst past capacity is refused, never grows memory
    (void)cache.remember("burst" + std::to_string(i), 2'000'000, 1'000'000);
  }
  EXPECT_EQ(cache.size(), 1000u);
}

}  // namespace
}  // namespace baton::federation
