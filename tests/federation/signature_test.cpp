#include "baton/federation/signature.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "digest.hpp"
#include "refusal.hpp"
#include "test_support.hpp"

namespace baton::federation {
namespace {

using test_support::component;

constexpr core::Millis kStart = 1'700'000'000'000;
constexpr std::int64_t kStartSeconds = kStart / 1000;

class SignatureTest : public ::testing::Test {
 protected:
  VerifierOptions options(std::size_t max_nonces = 1000) {
    VerifierOptions o;
    o.keys.emplace(key_id(acme.public_key), PinnedKey{acme.public_key, "acme"});
    o.keys.emplace(key_id(globex.public_key), PinnedKey{globex.public_key, "globex"});
    o.max_nonces = max_nonces;
    return o;
  }

  RequestMessage signed_request(const OutgoingRequest& r) {
    auto headers = signer.sign_request(r);
    EXPECT_TRUE(headers.ok()) << headers.error().message;
    return signed_message(r, *headers);
  }
  RequestMessage signed_request() { return signed_request(request); }

  std::optional<Refusal> refusal(const RequestMessage& m) {
    auto verdict = verifier.verify_request(m);
    if (verdict.ok()) return std::nullopt;
    EXPECT_TRUE(refusal_of(verdict.error()).has_value()) << verdict.error().message;
    return refusal_of(verdict.error());
  }

  // The request as our signer would send it, minus the signature fields.
  RequestMessage unsigned_request() {
    return RequestMessage{request.method,
                          request.authority,
                          request.path,
                          request.query,
                          {{"content-type", request.content_type},
                           {"content-digest", make_content_digest(request.body)}},
                          request.body};
  }

  // Our standard parameters, which tests then bend one at a time.
  sf::Parameters standard_params() {
    return {{"created", kStartSeconds},
            {"expires", kStartSeconds + 120},
            {"nonce", random.token(16)},
            {"keyid", key_id(acme.public_key)},
            {"alg", std::string("ed25519")},
            {"tag", std::string("baton-federation-v1")}};
  }

  // Signs with acme's key over `covered` and `params`, validly: whatever is
  // refused is refused for policy, not for a bad signature.
  RequestMessage hand_signed(sf::Parameters params,
                             std::vector<sf::Item> covered = test_support::request_components()) {
    return test_support::sign_raw(unsigned_request(), sf::InnerList{std::move(covered), std::move(params)},
                             acme);
  }

  static sf::Parameters without(sf::Parameters params, std::string_view key) {
    std::erase_if(params, [&](const sf::Parameter& p) { return p.key == key; });
    return params;
  }
  static sf::Parameters with(sf::Parameters params, std::string key, sf::BareItem value) {
    for (auto& p : params) {
      if (p.key == key) {
        p.value = std::move(value);
        return params;
      }
    }
    params.push_back(sf::Parameter{std::move(key), std::move(value)});
    return params;
  }

  static void set_header(RequestMessage& m, std::string_view name, std::string value) {
    for (auto& [n, v] : m.headers) {
      if (n == name) v = std::move(value);
    }
  }
  static void drop_header(RequestMessage& m, std::string_view name) {
    std::erase_if(m.headers, [&](const auto& h) { return h.first == name; });
  }

  core::ManualClock clock{kStart};
  test_support::CountingRandom random;
  KeyPair acme = generate_key_pair();
  KeyPair globex = generate_key_pair();
  Signer signer{acme, clock, random};
  Verifier verifier{options(), clock};
  OutgoingRequest request{"POST",
                          "northwind.example:8443",
                          "/federation/v1/transfers/t-42/offer",
                          "",
                          "application/json",
                          R"({"transfer_id":"t-42","origin":"acme","hops":0})"};
};

// ---- Round trips ---------------------------------------------------------------------------------

TEST_F(SignatureTest, SignedRequestVerifiesAndNamesThePeer) {
  auto verdict = verifier.verify_request(signed_request());
  ASSERT_TRUE(verdict.ok()) << verdict.error().message;
  EXPECT_EQ(verdict->peer, "acme");
  EXPECT_EQ(verdict->key_id, key_id(acme.public_key));
  EXPECT_EQ(verdict->label, "sig1");
  EXPECT_EQ(verdict->created, kStartSeconds);
  EXPECT_EQ(verdict->expires, kStartSeconds + 120);
}

TEST_F(SignatureTest, SignatureFieldsHaveTheDocumentedShape) {
  auto headers = signer.sign_request(request);
  ASSERT_TRUE(headers.ok());
  EXPECT_EQ(headers->content_digest, make_content_digest(request.body));
  const std::string prefix =
      R"(sig1=("@method" "@authority" "@path" "@query" "content-type" "content-digest");)"
      "created=1700000000;expires=1700000120;nonce=\"";
  EXPECT_EQ(headers->signature_input.substr(0, prefix.size()), prefix);
  const std::string suffix = "\";keyid=\"" + key_id(acme.public_key) +
                             "\";alg=\"ed25519\";tag=\"baton-federation-v1\"";
  ASSERT_GT(headers->signature_input.size(), prefix.size() + suffix.size());
  EXPECT_EQ(headers->signature_input.substr(headers->signature_input.size() - suffix.size()), suffix);
  std::string nonce = headers->signature_input.substr(
      prefix.size(), headers->signature_input.size() - prefix.size() - suffix.size());
  EXPECT_EQ(nonce.size(), 22u);  // 128 bits, base64url
  EXPECT_EQ(headers->signature.substr(0, 6), "sig1=:");
  EXPECT_EQ(headers->signature.size(), 6u + 88u + 1u);
}

TEST_F(SignatureTest, SignatureBaseOfOurRequestIsAsDocumented) {
  RequestMessage m = signed_request();
  auto input = sf::parse_dictionary(*field_value(m.headers, "signature-input"));
  ASSERT_TRUE(input.ok());
  auto base = signature_base(std::get<sf::InnerList>((*input)[0].value), m);
  ASSERT_TRUE(base.ok());
  std::string expected = "\"@method\": POST\n"
                         "\"@authority\": northwind.example:8443\n"
                         "\"@path\": /federation/v1/transfers/t-42/offer\n"
                         "\"@query\": ?\n"
                         "\"content-type\": application/json\n"
                         "\"content-digest\": " + make_content_digest(request.body) + "\n"
                         "\"@signature-params\": " +
                         field_value(m.headers, "signature-input")->substr(5);
  EXPECT_EQ(*base, expected);
}

TEST_F(SignatureTest, EveryNonceIsFresh) {
  auto a = signer.sign_request(request);
  auto b = signer.sign_request(request);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->signature_input, b->signature_input);
  EXPECT_TRUE(verifier.verify_request(signed_message(request, *a)).ok());
  EXPECT_TRUE(verifier.verify_request(signed_message(request, *b)).ok());
}

TEST_F(SignatureTest, QueryWithOrWithoutQuestionMarkIsTheSame) {
  request.query = "since=12&limit=50";
  RequestMessage m = signed_request();
  m.query = "?since=12&limit=50";
  EXPECT_TRUE(verifier.verify_request(m).ok());
}

TEST_F(SignatureTest, AuthorityIsCaseInsensitive) {
  RequestMessage m = signed_request();
  m.authority = "NorthWind.Example:8443";
  EXPECT_TRUE(verifier.verify_request(m).ok());
}

TEST_F(SignatureTest, HeaderNamesAreCaseInsensitive) {
  RequestMessage m = signed_request();
  for (auto& [name, value] : m.headers) {
    name[0] = static_cast<char>(name[0] - 'a' + 'A');
  }
  EXPECT_TRUE(verifier.verify_request(m).ok());
}

TEST_F(SignatureTest, ValidityIsClampedTo120Seconds) {
  Signer generous(acme, clock, random, 3600);
  auto headers = generous.sign_request(request);
  ASSERT_TRUE(headers.ok());
  EXPECT_NE(headers->signature_input.find("expires=1700000120;"), std::string::npos);
  Signer brief(acme, clock, random, 30);
  EXPECT_NE(brief.sign_request(request)->signature_input.find("expires=1700000030;"),
            std::string::npos);
}

TEST_F(SignatureTest, SignerRefusesRequestsItCannotSign) {
  request.content_type = "";
  EXPECT_FALSE(signer.sign_request(request).ok());
  request.content_type = "application/json\r\nx-evil: 1";
  EXPECT_FALSE(signer.sign_request(request).ok());
}

TEST_F(SignatureTest, SignedResponseVerifiesAgainstItsRequest) {
  RequestMessage sent = signed_request();
  ASSERT_TRUE(verifier.verify_request(sent).ok());

  Signer northwind_signer(globex, clock, random);
  OutgoingResponse answer{201, "application/json", R"({"authorization_code":"x"})"};
  auto headers = northwind_signer.sign_response(answer, sent);
  ASSERT_TRUE(headers.ok()) << headers.error().message;
  EXPECT_NE(headers->signature_input.find(
                R"(sig1=("@status" "content-type" "content-digest" "@method";req "@authority";req )"
                R"("@path";req "@query";req "signature";req;key="sig1");created=)"),
            std::string::npos)
      << headers->signature_input;

  auto verdict = verifier.verify_response(signed_message(answer, *headers), sent);
  ASSERT_TRUE(verdict.ok()) << verdict.error().message;
  EXPECT_EQ(verdict->peer, "globex");
}

TEST_F(SignatureTest, ResponseIsBoundToItsOwnRequest) {
  RequestMessage first = signed_request();
  RequestMessage second = signed_request();
  Signer responder(globex, clock, random);
  OutgoingResponse answer{200, "application/json", "{}"};
  auto headers = responder.sign_response(answer, first);
  ASSERT_TRUE(headers.ok());
  auto verdict = verifier.verify_response(signed_message(answer, *headers), second);
  ASSERT_FALSE(verdict.ok());
  EXPECT_EQ(refusal_of(verdict.error()), Refusal::bad_signature);
}

TEST_F(SignatureTest, ResponseWithChangedStatusIsRefused) {
  RequestMessage sent = signed_request();
  Signer responder(globex, clock, random);
  OutgoingResponse answer{200, "application/json", "{}"};
  auto headers = responder.sign_response(answer, sent);
  ASSERT_TRUE(headers.ok());
  ResponseMessage received = signed_message(answer, *headers);
  received.status = 500;
  auto verdict = verifier.verify_response(received, sent);
  ASSERT_FALSE(verdict.ok());
  EXPECT_EQ(refusal_of(verdict.error()), Refusal::bad_signature);
}

TEST_F(SignatureTest, ResponseNotBoundToTheRequestIsRefused) {
  RequestMessage sent = signed_request();
  Signer responder(globex, clock, random);
  // A response signed like a request (no ;req components) is not a valid answer.
  ResponseMessage received{200, {{"content-type", "application/json"},
                                 {"content-digest", make_content_digest("{}")}}, "{}"};
  sf::InnerList params{{component("@status"), component("content-type"), component("content-digest")},
                       with(standard_params(), "keyid", key_id(globex.public_key))};
  auto base = signature_base(params, received, &sent);
  ASSERT_TRUE(base.ok());
  received.headers.emplace_back("signature-input",
                                *sf::serialize_dictionary({sf::DictMember{"sig1", params}}));
  received.headers.emplace_back(
      "signature", *sf::serialize_dictionary({sf::DictMember{
                       "sig1", sf::Item{sf::Bytes{sign_detached(globex.secret_key, *base)}, {}}}}));
  auto verdict = verifier.verify_response(received, sent);
  ASSERT_FALSE(verdict.ok());
  EXPECT_EQ(refusal_of(verdict.error()), Refusal::component_not_covered);
  EXPECT_NE(verdict.error().message.find("\"@method\";req"), std::string::npos);
}

TEST_F(SignatureTest, HandSignedStandardRequestVerifies) {
  // The test helper itself makes valid signatures, so refusals below are for policy.
  EXPECT_EQ(refusal(hand_signed(standard_params())), std::nullopt);
}

// ---- Refusals ------------------------------------------------------------------------------------

TEST_F(SignatureTest, RefusesReplayedNonce) {
  RequestMessage m = signed_request();
  ASSERT_TRUE(verifier.verify_request(m).ok());
  EXPECT_EQ(refusal(m), Refusal::nonce_replayed);
  clock.advance(100'000);  // still valid: still remembered
  EXPECT_EQ(refusal(m), Refusal::nonce_replayed);
}

TEST_F(SignatureTest, RefusesExpiredSignature) {
  RequestMessage m = signed_request();
  clock.advance((120 + 60 + 1) * 1000);
  EXPECT_EQ(refusal(m), Refusal::signature_expired);
}

TEST_F(SignatureTest, AcceptsExpiryWithinClockSkew) {
  RequestMessage m = signed_request();
  clock.advance((120 + 60) * 1000);
  EXPECT_EQ(refusal(m), std::nullopt);
}

TEST_F(SignatureTest, RefusesFutureDatedSignature) {
  core::ManualClock ahead(kStart + 61'000);
  Signer fast(acme, ahead, random);
  auto headers = fast.sign_request(request);
  ASSERT_TRUE(headers.ok());
  EXPECT_EQ(refusal(signed_message(request, *headers)), Refusal::created_in_future);
}

TEST_F(SignatureTest, AcceptsCreatedWithinClockSkew) {
  core::ManualClock ahead(kStart + 60'000);
  Signer fast(acme, ahead, random);
  auto headers = fast.sign_request(request);
  ASSERT_TRUE(headers.ok());
  EXPECT_EQ(refusal(signed_message(request, *headers)), std::nullopt);
}

TEST_F(SignatureTest, RefusesOverLongValidity) {
  EXPECT_EQ(refusal(hand_signed(with(standard_params(), "expires", kStartSeconds + 121))),
            Refusal::validity_too_long);
  EXPECT_EQ(refusal(hand_signed(with(standard_params(), "expires", kStartSeconds))),
            Refusal::validity_too_long);
  EXPECT_EQ(refusal(hand_signed(with(standard_params(), "expires", kStartSeconds - 5))),
            Refusal::validity_too_long);
}

TEST_F(SignatureTest, RefusesMissingTimestamps) {
  EXPECT_EQ(refusal(hand_signed(without(standard_params(), "created"))), Refusal::created_missing);
  EXPECT_EQ(refusal(hand_signed(without(standard_params(), "expires"))), Refusal::expires_missing);
  EXPECT_EQ(refusal(hand_signed(with(standard_params(), "created", std::string("1700000000")))),
            Refusal::malformed_header);
}

TEST_F(SignatureTest, RefusesUnknownKeyid) {
  KeyPair stranger = generate_key_pair();
  Signer intruder(stranger, clock, random);
  auto headers = intruder.sign_request(request);
  ASSERT_TRUE(headers.ok());
  EXPECT_EQ(refusal(signed_message(request, *headers)), Refusal::unknown_key);
  EXPECT_EQ(refusal(hand_signed(without(standard_params(), "keyid"))), Refusal::keyid_missing);
}

TEST_F(SignatureTest, RefusesWrongKeyUnderAPinnedKeyid) {
  KeyPair stranger = generate_key_pair();
  Signer impostor(stranger, key_id(acme.public_key), clock, random);
  auto headers = impostor.sign_request(request);
  ASSERT_TRUE(headers.ok());
  EXPECT_EQ(refusal(signed_message(request, *headers)), Refusal::bad_signature);
}

TEST_F(SignatureTest, OnePeersKeyCannotSpeakForAnother) {
  // globex signs with its own pinned key: accepted, but as globex, not acme.
  Signer globex_signer(globex, clock, random);
  auto headers = globex_signer.sign_request(request);
  ASSERT_TRUE(headers.ok());
  auto verdict = verifier.verify_request(signed_message(request, *headers));
  ASSERT_TRUE(verdict.ok());
  EXPECT_EQ(verdict->peer, "globex");  // the caller refuses a body that names "acme"
}

TEST_F(SignatureTest, RefusesChangedBody) {
  RequestMessage m = signed_request();
  m.body = R"({"transfer_id":"t-42","origin":"evil","hops":0})";
  EXPECT_EQ(refusal(m), Refusal::content_digest_mismatch);
  // With a Content-Digest recomputed for the new body, the signature fails instead.
  set_header(m, "content-digest", make_content_digest(m.body));
  EXPECT_EQ(refusal(m), Refusal::bad_signature);
}

TEST_F(SignatureTest, RefusesChangedPath) {
  RequestMessage m = signed_request();
  m.path = "/federation/v1/transfers/t-43/offer";
  EXPECT_EQ(refusal(m), Refusal::bad_signature);
}

TEST_F(SignatureTest, RefusesChangedAuthority) {
  RequestMessage m = signed_request();
  m.authority = "globex.example:8443";
  EXPECT_EQ(refusal(m), Refusal::bad_signature);
}

TEST_F(SignatureTest, RefusesChangedQuery) {
  request.query = "a=1";
  RequestMessage m = signed_request();
  m.query = "a=2";
  EXPECT_EQ(refusal(m), Refusal::bad_signature);
  m.query = "";
  EXPECT_EQ(refusal(m), Refusal::bad_signature);
}

TEST_F(SignatureTest, RefusesChangedMethodAndContentType) {
  RequestMessage m = signed_request();
  m.method = "PUT";
  EXPECT_EQ(refusal(m), Refusal::bad_signature);
  m = signed_request();
  set_header(m, "content-type", "text/plain");
  EXPECT_EQ(refusal(m), Refusal::bad_signature);
}

TEST_F(SignatureTest, RefusesMissingTag) {
  EXPECT_EQ(refusal(hand_signed(without(standard_params(), "tag"))), Refusal::tag_missing);
}

TEST_F(SignatureTest, RefusesOtherTag) {
  EXPECT_EQ(refusal(hand_signed(with(standard_params(), "tag", std::string("other-app")))),
            Refusal::tag_mismatch);
  EXPECT_EQ(refusal(hand_signed(with(standard_params(), "tag", sf::Token{"baton-federation-v1"}))),
            Refusal::malformed_header);
}

TEST_F(SignatureTest, RefusesAlgOtherThanEd25519) {
  for (const char* alg : {"rsa-pss-sha512", "hmac-sha256", "ED25519", ""}) {
    EXPECT_EQ(refusal(hand_signed(with(standard_params(), "alg", std::string(alg)))),
              Refusal::alg_mismatch)
        << alg;
  }
}

TEST_F(SignatureTest, AcceptsMissingAlgSinceTheKeyDecides) {
  EXPECT_EQ(refusal(hand_signed(without(standard_params(), "alg"))), std::nullopt);
}

TEST_F(SignatureTest, RefusesBadNonces) {
  EXPECT_EQ(refusal(hand_signed(without(standard_params(), "nonce"))), Refusal::nonce_missing);
  EXPECT_EQ(refusal(hand_signed(with(standard_params(), "nonce", random.token(15)))),
            Refusal::nonce_invalid);  // 120 bits
  EXPECT_EQ(refusal(hand_signed(with(standard_params(), "nonce", std::string("not base64url!!!!!!!!!!")))),
            Refusal::nonce_invalid);
  EXPECT_EQ(refusal(hand_signed(with(standard_params(), "nonce", std::string(200, 'A')))),
            Refusal::nonce_invalid);
  EXPECT_EQ(refusal(hand_signed(with(standard_params(), "nonce", std::int64_t{123456789}))),
            Refusal::malformed_header);
  EXPECT_EQ(refusal(hand_signed(with(standard_params(), "nonce", random.token(32)))), std::nullopt);
}

TEST_F(SignatureTest, RefusesMissingContentDigest) {
  RequestMessage m = signed_request();
  drop_header(m, "content-digest");
  EXPECT_EQ(refusal(m), Refusal::content_digest_missing);
}

TEST_F(SignatureTest, RefusesContentDigestMismatch) {
  RequestMessage m = signed_request();
  set_header(m, "content-digest", make_content_digest("another body"));
  EXPECT_EQ(refusal(m), Refusal::content_digest_mismatch);
  set_header(m, "content-digest", "md5=:AAAA:");
  EXPECT_EQ(refusal(m), Refusal::content_digest_unsupported);
}

TEST_F(SignatureTest, RefusesMissingSignatureFields) {
  RequestMessage m = signed_request();
  drop_header(m, "signature");
  EXPECT_EQ(refusal(m), Refusal::missing_header);
  m = signed_request();
  drop_header(m, "signature-input");
  EXPECT_EQ(refusal(m), Refusal::missing_header);
  m = signed_request();
  set_header(m, "signature", "other=:AAAA:");
  EXPECT_EQ(refusal(m), Refusal::missing_header);
}

TEST_F(SignatureTest, RefusesMalformedSignatureFields) {
  RequestMessage m = signed_request();
  set_header(m, "signature-input", "sig1=(\"@method\"");
  EXPECT_EQ(refusal(m), Refusal::malformed_header);
  m = signed_request();
  set_header(m, "signature", "sig1=\"not bytes\"");
  EXPECT_EQ(refusal(m), Refusal::malformed_header);
  m = signed_request();
  set_header(m, "signature-input", "sig1=\"not a list\"");
  EXPECT_EQ(refusal(m), Refusal::malformed_header);
  m = signed_request();
  set_header(m, "signature-input", "sig1=(" + std::string(9000, ' ') + ")");
  EXPECT_EQ(refusal(m), Refusal::header_too_large);
  m = signed_request();
  set_header(m, "signature", "sig1=:AAAA:");
  EXPECT_EQ(refusal(m), Refusal::bad_signature);  // wrong length never verifies
}

TEST_F(SignatureTest, RefusesRequiredComponentNotCovered) {
  auto covered = test_support::request_components();
  for (std::size_t i = 0; i < covered.size(); ++i) {
    auto fewer = covered;
    fewer.erase(fewer.begin() + static_cast<std::ptrdiff_t>(i));
    auto verdict = verifier.verify_request(hand_signed(standard_params(), fewer));
    ASSERT_FALSE(verdict.ok());
    EXPECT_EQ(refusal_of(verdict.error()), Refusal::component_not_covered);
    EXPECT_NE(verdict.error().message.find(std::get<std::string>(covered[i].value)),
              std::string::npos);
  }
  // A look-alike does not count: "@method";req is not "@method".
  covered[0] = component("@method", {sf::Parameter{"req", true}});
  EXPECT_EQ(refusal(hand_signed(standard_params(), covered)), Refusal::component_not_covered);
}

TEST_F(SignatureTest, RefusesUnsupportedOrAbsentExtraComponents) {
  auto covered = test_support::request_components();
  covered.push_back(component("@target-uri"));
  EXPECT_EQ(refusal(hand_signed(standard_params(), covered)), Refusal::unsupported_component);
  covered.back() = component("x-not-sent");
  EXPECT_EQ(refusal(hand_signed(standard_params(), covered)), Refusal::component_missing);
  covered.back() = component("@method");
  EXPECT_EQ(refusal(hand_signed(standard_params(), covered)), Refusal::malformed_header);
}

TEST_F(SignatureTest, ChoosesTheSignatureTaggedForBaton) {
  RequestMessage m = signed_request();
  // Another application's signature beside ours is ignored.
  for (auto& [name, value] : m.headers) {
    if (name == "signature-input") value = R"(app=("@method");created=1;tag="other-app", )" + value;
    if (name == "signature") value = "app=:AAAA:, " + value;
  }
  EXPECT_EQ(refusal(m), std::nullopt);
}

TEST_F(SignatureTest, RefusesTwoSignaturesTaggedForBaton) {
  RequestMessage m = signed_request();
  std::string input = *field_value(m.headers, "signature-input");
  std::string signature = *field_value(m.headers, "signature");
  set_header(m, "signature-input", input + ", sig2" + input.substr(4));
  set_header(m, "signature", signature + ", sig2" + signature.substr(4));
  EXPECT_EQ(refusal(m), Refusal::ambiguous_signature);
}

TEST_F(SignatureTest, RefusesWhenReplayCacheIsFullUntilNoncesExpire) {
  Verifier small(options(2), clock);
  EXPECT_TRUE(small.verify_request(signed_request()).ok());
  EXPECT_TRUE(small.verify_request(signed_request()).ok());
  auto third = small.verify_request(signed_request());
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(refusal_of(third.error()), Refusal::replay_cache_full);
  EXPECT_EQ(third.error().code, core::Errc::unavailable);
  EXPECT_EQ(small.remembered_nonces(), 2u);
  clock.advance((120 + 60 + 1) * 1000);
  EXPECT_TRUE(small.verify_request(signed_request()).ok());
  EXPECT_EQ(small.remembered_nonces(), 1u);
}

TEST_F(SignatureTest, NonceCacheStaysBoundedOverTime) {
  Verifier bounded(options(500), clock);
  for (int i = 0; i < 3000; ++i) {
    clock.advance(400);  // 2.5 requests a second, each remembered 181 s: about 450 live
    ASSERT_TRUE(bounded.verify_request(signed_request()).ok()) << i;
    ASSERT_LE(bounded.remembered_nonces(), 500u);
  }
}

TEST_F(SignatureTest, RefusedMessagesTakeNoRoomInTheNonceCache) {
  RequestMessage m = signed_request();
  m.path = "/elsewhere";
  EXPECT_EQ(refusal(m), Refusal::bad_signature);
  EXPECT_EQ(verifier.remembered_nonces(), 0u);
}

TEST_F(SignatureTest, ReplacedKeysTakeEffect) {
  RequestMessage m = signed_request();
  verifier.replace_keys({{key_id(globex.public_key), PinnedKey{globex.public_key, "globex"}}});
  EXPECT_EQ(refusal(m), Refusal::unknown_key);
}

TEST_F(SignatureTest, RefusalsCarryStableNamesAndHttpCodes) {
  RequestMessage m = signed_request();
  drop_header(m, "signature");
  auto verdict = verifier.verify_request(m);
  ASSERT_FALSE(verdict.ok());
  EXPECT_EQ(verdict.error().code, core::Errc::unauthorized);
  EXPECT_EQ(verdict.error().message.substr(0, 16), "missing_header: ");
  EXPECT_EQ(refusal_of(core::Error{core::Errc::unauthorized, "something else"}), std::nullopt);
}

}  // namespace
}  // namespace baton::federation
