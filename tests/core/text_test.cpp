#include "baton/core/text.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "baton/core/clock.hpp"

namespace baton::core {
namespace {

// Bytes spelled out, so that no hex escape swallows the character after it.
std::string bytes(std::initializer_list<int> bs) {
  std::string s;
  for (int b : bs) s.push_back(static_cast<char>(b));
  return s;
}

std::string hex_of(const std::string& s) { return hex_encode(s.data(), s.size()); }
std::string b64_of(const std::string& s) { return base64url_encode(s.data(), s.size()); }

// ---- valid_utf8 --------------------------------------------------------------------------------

TEST(ValidUtf8, AcceptsEmptyAndAscii) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("hello, world"));
  EXPECT_TRUE(valid_utf8(bytes({0x00, 0x7F})));
}

TEST(ValidUtf8, AcceptsEverySequenceLength) {
  EXPECT_TRUE(valid_utf8("é"));        // 2 bytes
  EXPECT_TRUE(valid_utf8("€"));        // 3 bytes
  EXPECT_TRUE(valid_utf8("🙂"));       // 4 bytes
  EXPECT_TRUE(valid_utf8("aé€🙂z"));  // mixed
}

TEST(ValidUtf8, AcceptsTheBoundariesOfEachLength) {
  for (const std::string& s : {
           bytes({0xC2, 0x80}),              // U+0080, smallest 2-byte
           bytes({0xDF, 0xBF}),              // U+07FF, largest 2-byte
           bytes({0xE0, 0xA0, 0x80}),        // U+0800, smallest 3-byte
           bytes({0xED, 0x9F, 0xBF}),        // U+D7FF, just below the surrogates
           bytes({0xEE, 0x80, 0x80}),        // U+E000, just above the surrogates
           bytes({0xEF, 0xBF, 0xBD}),        // U+FFFD
           bytes({0xEF, 0xBF, 0xBF}),        // U+FFFF, largest 3-byte
           bytes({0xF0, 0x90, 0x80, 0x80}),  // U+10000, smallest 4-byte
           bytes({0xF4, 0x8F, 0xBF, 0xBF}),  // U+10FFFF, the last code point
       }) {
    EXPECT_TRUE(valid_utf8(s)) << hex_of(s);
  }
}

TEST(ValidUtf8, RejectsOverlongEncodings) {
  for (const std::string& s : {
           bytes({0xC0, 0x80}),              // U+0000 in 2 bytes
           bytes({0xC0, 0xAF}),              // '/' in 2 bytes
           bytes({0xC1, 0xBF}),              // U+007F in 2 bytes
           bytes({0xE0, 0x80, 0x80}),        // U+0000 in 3 bytes
           bytes({0xE0, 0x80, 0xAF}),        // '/' in 3 bytes
           bytes({0xE0, 0x9F, 0xBF}),        // U+07FF in 3 bytes
           bytes({0xF0, 0x80, 0x80, 0x80}),  // U+0000 in 4 bytes
           bytes({0xF0, 0x80, 0x80, 0xAF}),  // '/' in 4 bytes
           bytes({0xF0, 0x8F, 0xBF, 0xBF}),  // U+FFFF in 4 bytes
       }) {
    EXPECT_FALSE(valid_utf8(s)) << hex_of(s);
  }
}

TEST(ValidUtf8, RejectsSurrogates) {
  for (const std::string& s : {
           bytes({0xED, 0xA0, 0x80}),                    // U+D800, first high surrogate
           bytes({0xED, 0xAD, 0xBF}),                    // U+DB7F
           bytes({0xED, 0xAF, 0xBF}),                    // U+DBFF, last high surrogate
           bytes({0xED, 0xB0, 0x80}),                    // U+DC00, first low surrogate
           bytes({0xED, 0xBF, 0xBF}),                    // U+DFFF, last low surrogate
           bytes({0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80}),  // a CESU-8 pair for U+1F600
       }) {
    EXPECT_FALSE(valid_utf8(s)) << hex_of(s);
  }
}

TEST(ValidUtf8, RejectsCodePointsBeyondU10FFFF) {
  for (const std::string& s : {
           bytes({0xF4, 0x90, 0x80, 0x80}),              // U+110000
           bytes({0xF5, 0x80, 0x80, 0x80}),              // lead byte F5
           bytes({0xF7, 0xBF, 0xBF, 0xBF}),              // U+1FFFFF
           bytes({0xF8, 0x88, 0x80, 0x80, 0x80}),        // 5-byte form
           bytes({0xFC, 0x84, 0x80, 0x80, 0x80, 0x80}),  // 6-byte form
           bytes({0xFE}),
           bytes({0xFF}),
       }) {
    EXPECT_FALSE(valid_utf8(s)) << hex_of(s);
  }
}

TEST(ValidUtf8, RejectsTruncatedSequences) {
  for (const std::string& s : {
           bytes({0xC3}),                    // 2-byte missing 1
           bytes({0xE2, 0x82}),              // 3-byte missing 1
           bytes({0xE2}),                    // 3-byte missing 2
           bytes({0xF0, 0x9F, 0x99}),        // 4-byte missing 1
           bytes({0xF0, 0x9F}),              // 4-byte missing 2
           bytes({0xF0}),                    // 4-byte missing 3
           bytes({'a', 'b', 0xE2, 0x82}),    // at the end of longer text
           bytes({0xE2, 0x82, 'a'}),         // cut short by an ASCII byte
           bytes({0xF0, 0x9F, 0x99, 'x'}),   // cut short by an ASCII byte
           bytes({0xC3, 0xC3, 0xA9}),        // cut short by a new lead byte
       }) {
    EXPECT_FALSE(valid_utf8(s)) << hex_of(s);
  }
}

TEST(ValidUtf8, RejectsStrayContinuationBytes) {
  for (const std::string& s : {
           bytes({0x80}),
           bytes({0xBF}),
           bytes({'a', 0x80, 'b'}),
           bytes({0xC3, 0xA9, 0xA9}),  // one continuation too many
       }) {
    EXPECT_FALSE(valid_utf8(s)) << hex_of(s);
  }
}

TEST(ValidUtf8, RejectsNonContinuationWhereOneIsNeeded) {
  for (const std::string& s : {
           bytes({0xC3, 0x28}),
           bytes({0xE2, 0x28, 0xA1}),
           bytes({0xE2, 0x82, 0x28}),
           bytes({0xF0, 0x28, 0x8C, 0xBC}),
           bytes({0xF0, 0x90, 0x28, 0xBC}),
           bytes({0xF0, 0x90, 0x8C, 0x28}),
       }) {
    EXPECT_FALSE(valid_utf8(s)) << hex_of(s);
  }
}

TEST(ValidUtf8, AgreesWithADecoderOnEveryTwoAndThreeByteSequence) {
  // Reference: a sequence is valid iff it is the shortest encoding of a scalar value.
  for (int a = 0xC0; a <= 0xFF; ++a) {
    for (int b = 0x00; b <= 0xFF; ++b) {
      const std::string two = bytes({a, b});
      bool want2 = a >= 0xC2 && a <= 0xDF && b >= 0x80 && b <= 0xBF;
      ASSERT_EQ(valid_utf8(two), want2) << hex_of(two);
      if (a < 0xE0 || a > 0xEF || b < 0x80 || b > 0xBF) continue;
      for (int c = 0x00; c <= 0xFF; ++c) {
        const std::string three = bytes({a, b, c});
        const std::uint32_t cp = ((a & 0x0F) << 12) | ((b & 0x3F) << 6) | (c & 0x3F);
        const bool want3 = c >= 0x80 && c <= 0xBF && cp >= 0x800 && !(cp >= 0xD800 && cp <= 0xDFFF);
        ASSERT_EQ(valid_utf8(three), want3) << hex_of(three);
      }
    }
  }
}

// ---- utf8_length -------------------------------------------------------------------------------

TEST(Utf8Length, CountsCodePointsNotBytes) {
  EXPECT_EQ(utf8_length(""), 0u);
  EXPECT_EQ(utf8_length("abc"), 3u);
  EXPECT_EQ(utf8_length("é"), 1u);
  EXPECT_EQ(utf8_length("aé€🙂"), 4u);
}

// ---- utf8_prefix -------------------------------------------------------------------------------

TEST(Utf8Prefix, ReturnsShortTextWhole) {
  EXPECT_EQ(utf8_prefix("hello", 10), "hello");
  EXPECT_EQ(utf8_prefix("hello", 5), "hello");
  EXPECT_EQ(utf8_prefix("", 0), "");
  EXPECT_EQ(utf8_prefix("€", 3), "€");
}

TEST(Utf8Prefix, CutsAsciiAtTheLimit) {
  EXPECT_EQ(utf8_prefix("hello", 3), "hel");
  EXPECT_EQ(utf8_prefix("hello", 0), "");
}

TEST(Utf8Prefix, NeverCutsATwoByteCodePoint) {
  EXPECT_EQ(utf8_prefix("aé", 2), "a");
  EXPECT_EQ(utf8_prefix("é", 1), "");
}

TEST(Utf8Prefix, NeverCutsAThreeByteCodePoint) {
  EXPECT_EQ(utf8_prefix("a€b", 3), "a");
  EXPECT_EQ(utf8_prefix("a€b", 2), "a");
  EXPECT_EQ(utf8_prefix("a€b", 4), "a€");
}

TEST(Utf8Prefix, NeverCutsAFourByteCodePoint) {
  EXPECT_EQ(utf8_prefix("a🙂", 4), "a");
  EXPECT_EQ(utf8_prefix("a🙂", 3), "a");
  EXPECT_EQ(utf8_prefix("a🙂", 2), "a");
  EXPECT_EQ(utf8_prefix("🙂🙂", 7), "🙂");
  EXPECT_EQ(utf8_prefix("🙂🙂", 8), "🙂🙂");
}

TEST(Utf8Prefix, IsTheLongestValidPrefixForEveryLimit) {
  const std::string s = "aé€🙂b€🙂éé z";
  // The code point boundaries of s, found independently.
  std::vector<std::size_t> boundaries;
  for (std::size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) boundaries.push_back(i);

  for (std::size_t max = 0; max <= s.size() + 2; ++max) {
    SCOPED_TRACE("max_bytes " + std::to_string(max));
    const std::string got = utf8_prefix(s, max);
    EXPECT_LE(got.size(), max);
    EXPECT_EQ(s.compare(0, got.size(), got), 0) << "not a prefix";
    EXPECT_TRUE(valid_utf8(got));
    std::size_t want = 0;
    for (std::size_t b : boundaries)
      if (b <= max) want = b;
    EXPECT_EQ(got.size(), want);
  }
}

// ---- hex_encode --------------------------------------------------------------------------------

TEST(HexEncode, EncodesKnownVectors) {
  EXPECT_EQ(hex_of(""), "");
  EXPECT_EQ(hex_of(bytes({0x00})), "00");
  EXPECT_EQ(hex_of(bytes({0x0F})), "0f");
  EXPECT_EQ(hex_of(bytes({0xF0})), "f0");
  EXPECT_EQ(hex_of(bytes({0xFF})), "ff");
  EXPECT_EQ(hex_of(bytes({0xDE, 0xAD, 0xBE, 0xEF})), "deadbeef");
  EXPECT_EQ(hex_of("foobar"), "666f6f626172");
}

TEST(HexEncode, EncodesEveryByteAsTwoLowercaseDigits) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  const std::string hex = hex_of(all);
  ASSERT_EQ(hex.size(), 512u);
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int b = 0; b < 256; ++b) {
    EXPECT_EQ(hex[2 * b], kDigits[b / 16]) << b;
    EXPECT_EQ(hex[2 * b + 1], kDigits[b % 16]) << b;
  }
}

TEST(HexEncode, Sha256OfEmptyInputMatchesItsKnownHex) {
  // The digest of "" (FIPS 180-2), as the store would record a token hash.
  const std::string digest = bytes({0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
                                    0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
                                    0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55});
  EXPECT_EQ(hex_of(digest), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// ---- base64url_encode --------------------------------------------------------------------------

TEST(Base64UrlEncode, EncodesRfc4648VectorsWithoutPadding) {
  EXPECT_EQ(b64_of(""), "");
  EXPECT_EQ(b64_of("f"), "Zg");
  EXPECT_EQ(b64_of("fo"), "Zm8");
  EXPECT_EQ(b64_of("foo"), "Zm9v");
  EXPECT_EQ(b64_of("foob"), "Zm9vYg");
  EXPECT_EQ(b64_of("fooba"), "Zm9vYmE");
  EXPECT_EQ(b64_of("foobar"), "Zm9vYmFy");
}

TEST(Base64UrlEncode, UsesTheUrlSafeAlphabet) {
  EXPECT_EQ(b64_of(bytes({0xFB, 0xFF})), "-_8");        // standard base64: "+/8="
  EXPECT_EQ(b64_of(bytes({0xFB, 0xEF, 0xBE})), "----");  // standard: "++++"
  EXPECT_EQ(b64_of(bytes({0xFF, 0xFF, 0xFF})), "____");  // standard: "////"
  EXPECT_EQ(b64_of(bytes({0x00, 0x00, 0x00})), "AAAA");
  EXPECT_EQ(b64_of(bytes({0xFF})), "_w");
  EXPECT_EQ(b64_of(bytes({0xFF, 0xFF})), "__8");
}

TEST(Base64UrlEncode, EncodesHighBytesWithoutSignProblems) {
  EXPECT_EQ(b64_of(bytes({0x80, 0x00, 0x00})), "gAAA");
  EXPECT_EQ(b64_of(bytes({0x00, 0x80, 0x00})), "AIAA");
  EXPECT_EQ(b64_of(bytes({0x00, 0x00, 0x80})), "AACA");
  EXPECT_EQ(b64_of(bytes({0x14, 0xFB, 0x9C, 0x03, 0xD9, 0x7E})), "FPucA9l-");
}

TEST(Base64UrlEncode, OutputLengthIsCeilFourThirdsAndUsesOnlyTheAlphabet) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string input;
  for (std::size_t n = 0; n <= 64; ++n) {
    const std::string out = b64_of(input);
    EXPECT_EQ(out.size(), (n * 4 + 2) / 3) << n;
    EXPECT_EQ(out.find_first_not_of(alphabet), std::string::npos) << out;
    input.push_back(static_cast<char>(n * 37 + 200));
  }
}

// ---- ascii_lower -------------------------------------------------------------------------------

TEST(AsciiLower, LowersAsciiLettersOnly) {
  EXPECT_EQ(ascii_lower("Hello WORLD 123 @[`{"), "hello world 123 @[`{");
  EXPECT_EQ(ascii_lower("ÄÖÜ É"), "ÄÖÜ É");
  EXPECT_EQ(ascii_lower(""), "");
}

// ---- Random helpers ----------------------------------------------------------------------------

class CountingRandom final : public Random {
 public:
  void fill(void* out, std::size_t n) override {
    auto* p = static_cast<unsigned char*>(out);
    for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>(next_++);
  }

 private:
  unsigned next_ = 0;
};

TEST(RandomHelpers, HexIsTwoDigitsPerRandomByte) {
  CountingRandom r;
  EXPECT_EQ(r.hex(4), "00010203");
  EXPECT_EQ(r.hex(0), "");
  EXPECT_EQ(r.hex(2), "0405");
}

TEST(RandomHelpers, TokenIsBase64UrlOfTheRandomBytes) {
  CountingRandom r;
  EXPECT_EQ(r.token(3), "AAEC");
  EXPECT_EQ(r.token(32).size(), 43u);
}

// ---- to_valid_utf8 -------------------------------------------------------------------------------

TEST(ToValidUtf8, KeepsValidTextAndReplacesEachStrayByte) {
  EXPECT_EQ(to_valid_utf8("héllo"), "héllo");
  EXPECT_EQ(to_valid_utf8(bytes({'a', 0xFF, 'b'})), "a\xEF\xBF\xBD" "b");
  // A truncated sequence, an overlong and a surrogate: every byte replaced once.
  EXPECT_EQ(to_valid_utf8(bytes({0xE2, 0x82})), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(to_valid_utf8(bytes({0xC0, 0xAF})), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_TRUE(valid_utf8(to_valid_utf8(bytes({0xED, 0xA0, 0x80, 'x', 0xF0, 0x9F, 0x98, 0x80}))));
  EXPECT_EQ(to_valid_utf8(bytes({0xF0, 0x9F, 0x98, 0x80})), "😀");
}

}  // namespace
}  // namespace baton::core
