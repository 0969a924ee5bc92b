#include "baton/federation/password.hpp"

#include <gtest/gtest.h>

#include <string>

namespace baton::federation {
namespace {

// A hash made by libsodium elsewhere (password "lol"), with INTERACTIVE limits.
constexpr std::string_view kKnownHash =
    "$argon2id$v=19$m=65536,t=2,p=1$ZrWMVZiMs4tvs0QwVc7T7A$"
    "LIl6XlgIZsuozRpC3bCe5ew8LEWgDQvQE8qwsZ9ISps";

TEST(Password, HashVerifiesAndWrongPasswordDoesNot) {
  auto hash = hash_password("correct horse battery staple");
  ASSERT_TRUE(hash.ok()) << hash.error().message;
  EXPECT_TRUE(hash->starts_with("$argon2id$"));
  EXPECT_TRUE(looks_like_password_hash(*hash));
  EXPECT_FALSE(password_needs_rehash(*hash));
  EXPECT_TRUE(verify_password(*hash, "correct horse battery staple"));
  EXPECT_FALSE(verify_password(*hash, "correct horse battery stapler"));
}

TEST(Password, VerifiesHashMadeByLibsodiumElsewhere) {
  EXPECT_TRUE(verify_password(kKnownHash, "lol"));
}

TEST(Password, GarbageHashesNeverVerify) {
  const std::string long_garbage(100000, 'x');
  std::string with_nul(kKnownHash);
  with_nul[20] = '\0';
  const std::string_view garbage[] = {
      "",
      "lol",
      "$argon2id$",
      "$argon2i$v=19$m=65536,t=2,p=1$ZrWMVZiMs4tvs0QwVc7T7A$LIl6XlgIZsuozRpC3bCe5ew8LEWgDQvQE8qwsZ9ISps",
      "$argon2id$v=19$m=65536,t=2,p=1$ZrWMVZiMs4tvs0QwVc7T7A",
      "$argon2id$v=19$m=65536,t=2,p=1$ZrWMVZiMs4tvs0QwVc7T7A$LIl6XlgIZsuo*RpC3bCe5ew8LEWgDQvQE8qwsZ9ISps",
      // Parameters past the bounds: memory 4 GiB, 1000 passes, 64 lanes.
      "$argon2id$v=19$m=4194304,t=2,p=1$ZrWMVZiMs4tvs0QwVc7T7A$LIl6XlgIZsuozRpC3bCe5ew8LEWgDQvQE8qwsZ9ISps",
      "$argon2id$v=19$m=65536,t=1000,p=1$ZrWMVZiMs4tvs0QwVc7T7A$LIl6XlgIZsuozRpC3bCe5ew8LEWgDQvQE8qwsZ9ISps",
      "$argon2id$v=19$m=65536,t=2,p=64$ZrWMVZiMs4tvs0QwVc7T7A$LIl6XlgIZsuozRpC3bCe5ew8LEWgDQvQE8qwsZ9ISps",
      "$argon2id$v=19$m=065536,t=2,p=1$ZrWMVZiMs4tvs0QwVc7T7A$LIl6XlgIZsuozRpC3bCe5ew8LEWgDQvQE8qwsZ9ISps",
      with_nul,
      long_garbage,
  };
  for (std::string_view g : garbage) {
    EXPECT_FALSE(looks_like_password_hash(g)) << g.substr(0, 100);
    EXPECT_FALSE(verify_password(g, "lol")) << g.substr(0, 100);
    EXPECT_TRUE(password_needs_rehash(g)) << g.substr(0, 100);
  }
}

TEST(Password, WellFormedButWrongHashDoesNotVerify) {
  // Same shape as a real hash; the hash part belongs to no password.
  EXPECT_FALSE(verify_password(
      "$argon2id$v=19$m=65536,t=2,p=1$ZrWMVZiMs4tvs0QwVc7T7A$"
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      "lol"));
}

TEST(Password, EmptyPasswordIsBadRequest) {
  auto hash = hash_password("");
  ASSERT_FALSE(hash.ok());
  EXPECT_EQ(hash.error().code, core::Errc::bad_request);
  EXPECT_FALSE(verify_password(kKnownHash, ""));
}

TEST(Password, OverlongPasswordIsTooLarge) {
  const std::string longest(kMaxPasswordBytes + 1, 'a');
  auto hash = hash_password(longest);
  ASSERT_FALSE(hash.ok());
  EXPECT_EQ(hash.error().code, core::Errc::too_large);
  EXPECT_FALSE(verify_password(kKnownHash, longest));
}

TEST(Password, NeedsRehashWhenParametersDiffer) {
  EXPECT_FALSE(password_needs_rehash(kKnownHash));
  EXPECT_TRUE(password_needs_rehash(
      "$argon2id$v=19$m=65536,t=3,p=1$ZrWMVZiMs4tvs0QwVc7T7A$"
      "LIl6XlgIZsuozRpC3bCe5ew8LEWgDQvQE8qwsZ9ISps"));
}

TEST(Password, EnsureSodiumCanBeCalledAgain) {
  EXPECT_NO_THROW(ensure_sodium());
  EXPECT_NO_THROW(ensure_sodium());
}

}  // namespace
}  // namespace baton::federation
