#include "baton/federation/structured_fields.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace baton::federation::sf {
namespace {

constexpr const char* kSignatureInput =
    R"(sig1=("@method" "@authority" "@path" "@query" "content-type" "content-digest");)"
    R"(created=1618884473;expires=1618884593;nonce="b3k2pp5k7z-50gnwp.yemd";)"
    R"(keyid="test-key-ed25519";alg="ed25519";tag="baton-federation-v1")";

constexpr const char* kSignature =
    "sig1=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:";

std::string reserialize(std::string_view text) {
  auto dict = parse_dictionary(text);
  EXPECT_TRUE(dict.ok()) << text << ": " << (dict.ok() ? "" : dict.error().message);
  if (!dict) return {};
  auto out = serialize_dictionary(*dict);
  EXPECT_TRUE(out.ok());
  return out ? *out : std::string();
}

TEST(StructuredFields, ParsesSignatureInputMember) {
  auto dict = parse_dictionary(kSignatureInput);
  ASSERT_TRUE(dict.ok()) << dict.error().message;
  ASSERT_EQ(dict->size(), 1u);
  const auto& member = (*dict)[0];
  EXPECT_EQ(member.key, "sig1");
  const auto& list = std::get<InnerList>(member.value);
  ASSERT_EQ(list.items.size(), 6u);
  EXPECT_EQ(std::get<std::string>(list.items[0].value), "@method");
  EXPECT_EQ(std::get<std::string>(list.items[5].value), "content-digest");
  EXPECT_EQ(std::get<std::int64_t>(find_param(list.params, "created")->value), 1618884473);
  EXPECT_EQ(std::get<std::string>(find_param(list.params, "tag")->value), "baton-federation-v1");
  EXPECT_EQ(find_param(list.params, "missing"), nullptr);
}

TEST(StructuredFields, ParsesByteSequenceMember) {
  auto dict = parse_dictionary(kSignature);
  ASSERT_TRUE(dict.ok()) << dict.error().message;
  const auto& item = std::get<Item>((*dict)[0].value);
  EXPECT_EQ(std::get<Bytes>(item.value).data.size(), 64u);
}

TEST(StructuredFields, RoundTripsCanonicalValues) {
  for (const char* text : {
           kSignatureInput,
           kSignature,
           "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
           "a=1, b=?0, c, d;x=\"y\";z",
           "a=(1 2 3);p=tok, b=()",
           "a=-999999999999999, b=999999999999999",
           "a=\"quote \\\" and backslash \\\\\"",
           "a=*tok/with:colon, b=Tok!#$%&'*+-.^_`|~",
           "k=:AQID:;x",
           "sig1=(\"signature\";req;key=\"sig1\" \"@status\")",
       }) {
    EXPECT_EQ(reserialize(text), text);
  }
}

TEST(StructuredFields, NormalisesWhitespaceAndBooleans) {
  EXPECT_EQ(reserialize("  a=1 ,\tb=2  "), "a=1, b=2");
  EXPECT_EQ(reserialize("a=(  1   2 )"), "a=(1 2)");
  EXPECT_EQ(reserialize("a=?1"), "a");
  EXPECT_EQ(reserialize("a;x=?1"), "a;x");
  EXPECT_EQ(reserialize("a=1; x=2"), "a=1;x=2");
  EXPECT_EQ(reserialize("a=007"), "a=7");
  EXPECT_EQ(reserialize("a=:AQI:"), "a=:AQI=:");  // padding is optional on input (RFC 8941 §4.2.7)
}

TEST(StructuredFields, EmptyFieldIsEmptyDictionary) {
  auto dict = parse_dictionary("   ");
  ASSERT_TRUE(dict.ok());
  EXPECT_TRUE(dict->empty());
}

TEST(StructuredFields, RejectsMalformedValues) {
  for (const char* text : {
           "A=1",                 // upper-case key
           "1a=1",                // key must start with a letter or '*'
           "a=",                  // missing value
           "a=1,",                // trailing comma
           ",a=1",                // leading comma
           "a=1,,b=2",            // empty member
           "a=1 b=2",             // missing comma
           "a=(1 2",              // unclosed inner list
           "a=(1,2)",             // comma in inner list
           "a=(1 2)x",            // junk after inner list
           "a=\"unterminated",    // unclosed string
           "a=\"bad \\n escape\"",  // only \" and \\ escapes
           "a=\"tab\there\"",     // control character in string
           "a=\"caf\xc3\xa9\"",   // non-ASCII in string
           "a=:AQ=ID:",           // padding in the middle
           "a=:A:",               // impossible base64 length
           "a=:AQID",             // unclosed byte sequence
           "a=:AQ\"D:",           // non-base64 character
           "a=?2",                // boolean must be ?0 or ?1
           "a=1.5",               // decimals are not supported
           "a=1000000000000000",  // 16 digits
           "a=-",                 // sign without digits
           "a=1;",                // parameter without key
           "a=1;X=2",             // upper-case parameter key
           "a=1, a=2",            // duplicate key
           "a=1;x=1;x=2",         // duplicate parameter
           "a=@token",            // not a bare item
           "a=1 ;x=2",            // space before parameter
           "a=( 1)  )",           // extra close
       }) {
    auto dict = parse_dictionary(text);
    EXPECT_FALSE(dict.ok()) << "accepted: " << text;
    if (!dict) {
      EXPECT_EQ(dict.error().code, core::Errc::bad_request) << text;
    }
  }
}

TEST(StructuredFields, EnforcesLimits) {
  SfLimits limits;
  std::string big = "a=\"" + std::string(limits.max_field_bytes, 'x') + "\"";
  auto too_big = parse_dictionary(big);
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.error().code, core::Errc::too_large);

  std::string members;
  for (std::size_t i = 0; i <= limits.max_members; ++i) {
    members += (i ? ", m" : "m") + std::to_string(i) + "=1";
  }
  auto too_many = parse_dictionary(members);
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.error().code, core::Errc::too_large);

  std::string items = "a=(";
  for (std::size_t i = 0; i <= limits.max_inner_list_items; ++i) items += "1 ";
  items += ")";
  auto too_long_list = parse_dictionary(items);
  ASSERT_FALSE(too_long_list.ok());
  EXPECT_EQ(too_long_list.error().code, core::Errc::too_large);

  std::string params = "a=1";
  for (std::size_t i = 0; i <= limits.max_params; ++i) params += ";p" + std::to_string(i);
  auto too_many_params = parse_dictionary(params);
  ASSERT_FALSE(too_many_params.ok());
  EXPECT_EQ(too_many_params.error().code, core::Errc::too_large);

  auto long_string = parse_dictionary("a=\"" + std::string(limits.max_string_bytes + 1, 'x') + "\"");
  ASSERT_FALSE(long_string.ok());
  EXPECT_EQ(long_string.error().code, core::Errc::too_large);

  auto long_key = parse_dictionary(std::string(limits.max_key_bytes + 1, 'k') + "=1");
  ASSERT_FALSE(long_key.ok());
  EXPECT_EQ(long_key.error().code, core::Errc::too_large);

  auto long_bytes = parse_dictionary("a=:" + std::string(limits.max_bytes_chars + 4, 'A') + ":");
  ASSERT_FALSE(long_bytes.ok());
  EXPECT_EQ(long_bytes.error().code, core::Errc::too_large);
}

TEST(StructuredFields, EveryTruncationOfValidInputParsesOrFailsCleanly) {
  for (std::string_view text : {std::string_view(kSignatureInput), std::string_view(kSignature),
                                std::string_view("a=(\"x\";req;key=\"sig1\" \"y\");p=?0, b=:AQID:")}) {
    for (std::size_t n = 0; n <= text.size(); ++n) {
      auto dict = parse_dictionary(text.substr(0, n));
      if (dict.ok()) {
        EXPECT_TRUE(serialize_dictionary(*dict).ok()) << text.substr(0, n);
      }
    }
  }
}

TEST(StructuredFields, RandomBytesNeverCrash) {
  std::mt19937 rng(20240917);
  const std::string alphabet = "abc=();:\"?\\, \t*-_.019AZ+/\x01\x7f\xff";
  for (int round = 0; round < 20000; ++round) {
    std::string text(rng() % 64, '\0');
    for (char& c : text) {
      c = round % 2 ? static_cast<char>(rng() & 0xFF) : alphabet[rng() % alphabet.size()];
    }
    auto dict = parse_dictionary(text);
    if (dict.ok()) {
      // Whatever parses serializes, and the serialization parses to the same value.
      auto again = serialize_dictionary(*dict);
      ASSERT_TRUE(again.ok()) << text;
      auto reparsed = parse_dictionary(*again);
      ASSERT_TRUE(reparsed.ok()) << *again;
      EXPECT_EQ(*reparsed, *dict) << text;
    }
    (void)parse_item(text);
  }
}

TEST(StructuredFields, MutationsOfValidInputNeverCrash) {
  std::mt19937 rng(7);
  const std::string base = kSignatureInput;
  for (int round = 0; round < 20000; ++round) {
    std::string text = base;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      std::size_t at = rng() % text.size();
      switch (rng() % 3) {
        case 0: text[at] = static_cast<char>(rng() & 0xFF); break;
        case 1: text.erase(at, 1); break;
        default: text.insert(at, 1, "(\";:=, "[rng() % 7]); break;
      }
    }
    auto dict = parse_dictionary(text);
    if (dict.ok()) {
      EXPECT_TRUE(serialize_dictionary(*dict).ok()) << text;
    }
  }
}

TEST(StructuredFields, ParsesComponentIdentifierItem) {
  auto item = parse_item(R"("signature";req;key="sig1")");
  ASSERT_TRUE(item.ok()) << item.error().message;
  EXPECT_EQ(std::get<std::string>(item->value), "signature");
  ASSERT_EQ(item->params.size(), 2u);
  EXPECT_EQ(std::get<bool>(item->params[0].value), true);
  EXPECT_FALSE(parse_item(R"("a" "b")").ok());
}

TEST(StructuredFields, SerializerRefusesUnwritableValues) {
  EXPECT_FALSE(serialize_bare_item(std::string("line\nbreak")).ok());
  EXPECT_FALSE(serialize_bare_item(Token{"1abc"}).ok());
  EXPECT_FALSE(serialize_bare_item(Token{""}).ok());
  EXPECT_FALSE(serialize_bare_item(std::int64_t{1'000'000'000'000'000}).ok());
  EXPECT_FALSE(serialize_params({Parameter{"Upper", true}}).ok());
  EXPECT_FALSE(serialize_dictionary({DictMember{"", Item{std::int64_t{1}, {}}}}).ok());
  EXPECT_EQ(*serialize_bare_item(Bytes{std::string("\x00\xff", 2)}), ":AP8=:");
  EXPECT_EQ(*serialize_bare_item(false), "?0");
}

}  // namespace
}  // namespace baton::federation::sf
