// The published examples of RFC 9421: our signature base construction must
// produce the RFC's bytes exactly, and the RFC's Ed25519 signature must verify.
#include <gtest/gtest.h>

#include <string>

#include "base64.hpp"
#include "baton/federation/keys.hpp"
#include "refusal.hpp"
#include "baton/federation/signature.hpp"
#include "baton/federation/structured_fields.hpp"

namespace baton::federation {
namespace {

// RFC 9421 Appendix B.1.4, test-key-ed25519, as the PEM bodies printed there
// (SubjectPublicKeyInfo and PKCS#8 DER): a fixed 12- and 16-byte prefix, then the key.
constexpr const char* kTestPublicKeyDer = "MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=";
constexpr const char* kTestPrivateKeyDer = "MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF";

// RFC 9421 Appendix B.2, the test request.
RequestMessage test_request() {
  return RequestMessage{
      "POST",
      "example.com",
      "/foo",
      "param=Value&Pet=dog",
      {{"Host", "example.com"},
       {"Date", "Tue, 20 Apr 2021 02:07:55 GMT"},
       {"Content-Type", "application/json"},
       {"Content-Digest",
        "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"},
       {"Content-Length", "18"}},
      R"({"hello": "world"})"};
}

// Appendix B.2.6: "Signing a Request Using ed25519".
constexpr const char* kB26SignatureInput =
    R"(sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");)"
    R"(created=1618884473;keyid="test-key-ed25519")";
constexpr const char* kB26Signature =
    "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:";
constexpr const char* kB26Base =
    "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n"
    "\"@method\": POST\n"
    "\"@path\": /foo\n"
    "\"@authority\": example.com\n"
    "\"content-type\": application/json\n"
    "\"content-length\": 18\n"
    "\"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" "
    "\"content-length\");created=1618884473;keyid=\"test-key-ed25519\"";

PublicKey test_public_key() {
  auto der = base64_decode(kTestPublicKeyDer, Base64Alphabet::standard, Base64Padding::required, true);
  EXPECT_TRUE(der && der->size() == 44);
  PublicKey key;
  std::copy(der->begin() + 12, der->end(), key.bytes.begin());
  return key;
}

KeyPair test_key_pair() {
  auto der = base64_decode(kTestPrivateKeyDer, Base64Alphabet::standard, Base64Padding::required, true);
  EXPECT_TRUE(der && der->size() == 48);
  auto pair = key_pair_from_seed(der->substr(16));
  EXPECT_TRUE(pair.ok());
  return *pair;
}

sf::InnerList member_params(const char* field, const char* label) {
  auto dict = sf::parse_dictionary(field);
  EXPECT_TRUE(dict.ok());
  return std::get<sf::InnerList>(sf::find_member(*dict, label)->value);
}

std::string member_bytes(const char* field, const char* label) {
  auto dict = sf::parse_dictionary(field);
  EXPECT_TRUE(dict.ok());
  return std::get<sf::Bytes>(std::get<sf::Item>(sf::find_member(*dict, label)->value).value).data;
}

TEST(Rfc9421, TestKeyPairsMatch) {
  EXPECT_EQ(test_key_pair().public_key, test_public_key());
}

TEST(Rfc9421, B26SignatureBaseMatchesByteForByte) {
  auto base = signature_base(member_params(kB26SignatureInput, "sig-b26"), test_request());
  ASSERT_TRUE(base.ok()) << base.error().message;
  EXPECT_EQ(*base, kB26Base);
}

TEST(Rfc9421, B26SignatureVerifiesWithTestKey) {
  auto base = signature_base(member_params(kB26SignatureInput, "sig-b26"), test_request());
  ASSERT_TRUE(base.ok());
  EXPECT_TRUE(verify_detached(test_public_key(), *base, member_bytes(kB26Signature, "sig-b26")));
  EXPECT_FALSE(verify_detached(generate_key_pair().public_key, *base,
                               member_bytes(kB26Signature, "sig-b26")));
}

TEST(Rfc9421, B26SigningWithTestKeyReproducesSignature) {
  // Ed25519 is deterministic: the same key and base give the RFC's bytes.
  std::string signature = sign_detached(test_key_pair().secret_key, kB26Base);
  EXPECT_EQ(signature, member_bytes(kB26Signature, "sig-b26"));
}

TEST(Rfc9421, B26ChangedRequestNoLongerVerifies) {
  RequestMessage changed = test_request();
  changed.path = "/bar";
  auto base = signature_base(member_params(kB26SignatureInput, "sig-b26"), changed);
  ASSERT_TRUE(base.ok());
  EXPECT_FALSE(verify_detached(test_public_key(), *base, member_bytes(kB26Signature, "sig-b26")));
}

TEST(Rfc9421, B26IsRefusedByBatonPolicyForLackingTag) {
  // The example is a valid RFC 9421 signature, but not a Baton federation one.
  core::ManualClock clock(1618884473'000);
  PinnedKeys keys{{"test-key-ed25519", PinnedKey{test_public_key(), "rfc"}}};
  Verifier verifier(VerifierOptions{keys}, clock);
  RequestMessage request = test_request();
  request.headers.emplace_back("Signature-Input", kB26SignatureInput);
  request.headers.emplace_back("Signature", kB26Signature);
  auto verdict = verifier.verify_request(request);
  ASSERT_FALSE(verdict.ok());
  EXPECT_EQ(refusal_of(verdict.error()), Refusal::tag_missing);
}

// §2.4: a response bound to its request through "signature";req;key="sig1".
TEST(Rfc9421, Section24ResponseBaseMatchesByteForByte) {
  constexpr const char* kRequestSignature =
      "sig1=:LAH8BjcfcOcLojiuOBFWn0P5keD3xAOuJRGziCLuD8r5MW9S0RoXXLzLSRfGY/3SF8kVIkHjE13SEFdTo4Af/"
      "fJ/Pu9wheqoLVdwXyY/UkBIS1M8Brc8IODsn5DFIrG0IrburbLi0uCc+E2ZIIb6HbUJ+o+jP58JelMTe0QE3IpWINTE"
      "zpxjqDf5/Df+InHCAkQCTuKsamjWXUpyOT1Wkxi7YPVNOjW4MfNuTZ9HdbD2Tr65+BXeTG9ZS/9SWuXAc+BZ8WyPz0QR"
      "z//ec3uWXd7bYYODSjRAxHqX+S1ag3LZElYyUKaAIjZ8MGOt4gXEwCSLDv/zqxZeWLj/PDkn6w==:";
  RequestMessage request = test_request();
  request.headers.emplace_back("Signature", kRequestSignature);
  ResponseMessage response{503,
                           {{"Date", "Tue, 20 Apr 2021 02:07:56 GMT"},
                            {"Content-Type", "application/json"},
                            {"Content-Length", "62"}},
                           R"({"busy": true, "message": "Your call is very important to us"})"};
  const char* input =
      R"(reqres=("@status" "content-length" "content-type" "signature";req;key="sig1" )"
      R"("@authority";req "@method";req);created=1618884479;keyid="test-key-ecc-p256")";
  auto base = signature_base(member_params(input, "reqres"), response, &request);
  ASSERT_TRUE(base.ok()) << base.error().message;
  EXPECT_EQ(*base, std::string("\"@status\": 503\n"
                               "\"content-length\": 62\n"
                               "\"content-type\": application/json\n"
                               "\"signature\";req;key=\"sig1\": ") +
                       (kRequestSignature + 5) +
                       "\n"
                       "\"@authority\";req: example.com\n"
                       "\"@method\";req: POST\n"
                       "\"@signature-params\": (\"@status\" \"content-length\" \"content-type\" "
                       "\"signature\";req;key=\"sig1\" \"@authority\";req \"@method\";req)"
                       ";created=1618884479;keyid=\"test-key-ecc-p256\"");
}

TEST(Rfc9421, DerivedComponentsFollowSection22) {
  sf::InnerList params{{sf::Item{std::string("@query"), {}}, sf::Item{std::string("@path"), {}},
                        sf::Item{std::string("@authority"), {}}},
                       {}};
  RequestMessage request{"GET", "Example.COM:8443", "", "", {}, ""};
  auto base = signature_base(params, request);
  ASSERT_TRUE(base.ok());
  EXPECT_EQ(*base,
            "\"@query\": ?\n\"@path\": /\n\"@authority\": example.com:8443\n"
            "\"@signature-params\": (\"@query\" \"@path\" \"@authority\")");
  request.query = "?a=1&b=%20";
  EXPECT_NE(signature_base(params, request)->find("\"@query\": ?a=1&b=%20\n"), std::string::npos);
  request.query = "a=1&b=%20";
  EXPECT_NE(signature_base(params, request)->find("\"@query\": ?a=1&b=%20\n"), std::string::npos);
}

TEST(Rfc9421, FieldLinesAreTrimmedAndCombined) {
  sf::InnerList params{{sf::Item{std::string("x-list"), {}}}, {}};
  RequestMessage request{"GET", "a", "/", "", {{"X-List", "  one "}, {"x-list", "\ttwo"}}, ""};
  auto base = signature_base(params, request);
  ASSERT_TRUE(base.ok());
  EXPECT_EQ(*base, "\"x-list\": one, two\n\"@signature-params\": (\"x-list\")");
}

TEST(Rfc9421, BaseConstructionRefusesAmbiguity) {
  RequestMessage request{"GET", "a", "/", "", {{"x", "1"}, {"y", "a\nb"}}, ""};
  auto refusal = [&](std::vector<sf::Item> items) {
    auto base = signature_base(sf::InnerList{std::move(items), {}}, request);
    return base.ok() ? std::nullopt : refusal_of(base.error());
  };
  EXPECT_EQ(refusal({sf::Item{std::string("x"), {}}, sf::Item{std::string("x"), {}}}),
            Refusal::malformed_header);
  EXPECT_EQ(refusal({sf::Item{std::string("X"), {}}}), Refusal::malformed_header);
  EXPECT_EQ(refusal({sf::Item{std::string("y"), {}}}), Refusal::malformed_header);
  EXPECT_EQ(refusal({sf::Item{sf::Token{"x"}, {}}}), Refusal::malformed_header);
  EXPECT_EQ(refusal({sf::Item{std::string("@signature-params"), {}}}), Refusal::malformed_header);
  EXPECT_EQ(refusal({sf::Item{std::string("@target-uri"), {}}}), Refusal::unsupported_component);
  EXPECT_EQ(refusal({sf::Item{std::string("x"), {sf::Parameter{"bs", true}}}}),
            Refusal::unsupported_component);
  EXPECT_EQ(refusal({sf::Item{std::string("@method"), {sf::Parameter{"req", true}}}}),
            Refusal::unsupported_component);
  EXPECT_EQ(refusal({sf::Item{std::string("@status"), {}}}), Refusal::unsupported_component);
  EXPECT_EQ(refusal({sf::Item{std::string("z"), {}}}), Refusal::component_missing);
}

}  // namespace
}  // namespace baton::federation
