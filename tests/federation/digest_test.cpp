#include "digest.hpp"

#include <gtest/gtest.h>

#include "refusal.hpp"

namespace baton::federation {
namespace {

constexpr std::string_view kBody = R"({"hello": "world"})";  // RFC 9530 and RFC 9421 examples

std::optional<Refusal> refusal(const core::Status& status) {
  return status.ok() ? std::nullopt : refusal_of(status.error());
}

TEST(ContentDigest, MatchesRfc9530Example) {
  EXPECT_EQ(make_content_digest(kBody), "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:");
}

TEST(ContentDigest, VerifiesItsOwnDigest) {
  EXPECT_TRUE(verify_content_digest(make_content_digest(kBody), kBody).ok());
  EXPECT_TRUE(verify_content_digest(make_content_digest(""), "").ok());
}

TEST(ContentDigest, IgnoresUnknownAlgorithms) {
  std::string field = "md5=:AAAA:, unixsum=42, " + make_content_digest(kBody) + ", x-new=?1";
  EXPECT_TRUE(verify_content_digest(field, kBody).ok());
}

TEST(ContentDigest, ChecksSha512WhenPresentBesideSha256) {
  // The sha-512 value of RFC 9421 Appendix B.2's test request.
  const std::string sha512 =
      "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";
  EXPECT_TRUE(verify_content_digest(sha512 + ", " + make_content_digest(kBody), kBody).ok());
  EXPECT_EQ(refusal(verify_content_digest(sha512 + ", " + make_content_digest("x"), kBody)),
            Refusal::content_digest_mismatch);
}

TEST(ContentDigest, RequiresSha256) {
  EXPECT_EQ(refusal(verify_content_digest(
                "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
                kBody)),
            Refusal::content_digest_unsupported);
  EXPECT_EQ(refusal(verify_content_digest("", kBody)), Refusal::content_digest_unsupported);
}

TEST(ContentDigest, RefusesChangedBody) {
  EXPECT_EQ(refusal(verify_content_digest(make_content_digest(kBody), R"({"hello": "World"})")),
            Refusal::content_digest_mismatch);
}

TEST(ContentDigest, RefusesWrongLengthAndMalformedValues) {
  EXPECT_EQ(refusal(verify_content_digest("sha-256=:AAAA:", kBody)), Refusal::content_digest_mismatch);
  EXPECT_EQ(refusal(verify_content_digest("sha-256=\"X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=\"", kBody)),
            Refusal::malformed_header);
  EXPECT_EQ(refusal(verify_content_digest("sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=", kBody)),
            Refusal::malformed_header);
  EXPECT_EQ(refusal(verify_content_digest(std::string(9000, 'a'), kBody)), Refusal::header_too_large);
}

}  // namespace
}  // namespace baton::federation
