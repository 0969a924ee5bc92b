// RFC 9421 signatures and RFC 9530 Content-Digest as the federation endpoints
// check them: Verifier::verify_request / verify_response with the pinned keys and
// clock of docs/federation.md §5, plus signature_base over every member of
// Signature-Input.
//
// Input: a message in a small text form,
//   POST /federation/v1/offers?query      (or "RESPONSE 200" for a response)
//   Header-Name: value                    (any number of lines)
//                                         (an empty line)
//   body
// Two header lines steer the harness and are removed before verification:
// "X-Fuzz-Sign: 1" replaces Signature with a real one over what Signature-Input
// says (so that the checks after the signature are reached), "X-Fuzz-Digest: 1"
// replaces Content-Digest with the body's. A response is checked as the answer to
// the offer request of docs/federation.md §5.1.
//
// Also checks that whatever our Signer signs, our Verifier accepts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base64.hpp"
#include "digest.hpp"
#include "baton/federation/signature.hpp"
#include "fuzz/check.hpp"
#include "fuzz/fixtures.hpp"

using namespace baton;
using namespace baton::federation;

namespace {

constexpr std::string_view kAuthority = "chat.northwind.example";

struct Keys {
  KeyPair acme = fuzz::key_from_hex(fuzz::kAcmeSeedHex);
  KeyPair northwind = fuzz::key_from_hex(fuzz::kNorthwindSeedHex);
  core::ManualClock clock{fuzz::kExampleNowMs};
  fuzz::CountingRandom random;
  VerifierOptions options() const {
    VerifierOptions o;
    o.keys[key_id(acme.public_key)] = PinnedKey{acme.public_key, "acme"};
    o.keys[key_id(northwind.public_key)] = PinnedKey{northwind.public_key, "northwind"};
    return o;
  }
};

Keys& keys() {
  static Keys k;
  return k;
}

// docs/federation.md §5.1, as Acme sent it.
RequestMessage example_request() {
  RequestMessage r;
  r.method = "POST";
  r.authority = std::string(kAuthority);
  r.path = "/federation/v1/offers";
  r.headers = {
      {"content-type", "application/json"},
      {"content-digest", "sha-256=:C0h0EsLlaO91dUP3hPlETyb1b0I4fwkg3Kq92WCw0kc=:"},
      {"signature-input",
       "sig1=(\"@method\" \"@authority\" \"@path\" \"@query\" \"content-type\" \"content-digest\");"
       "created=1795739700;expires=1795739820;nonce=\"AAECAwQFBgcICQoLDA0ODw\";"
       "keyid=\"sWwtG-rRJiY5dk_bDuTTdw\";alg=\"ed25519\";tag=\"baton-federation-v1\""},
      {"signature",
       "sig1=:jfDB6K//Ymp0rEys2fXywtyKRU5qxSywl9whNImXzYCQnT7tPLnRx1Y1Tj5Da2kjxT1mcYFZEfO3B/LgW8RhDQ==:"}};
  r.body = "{\"transfer_id\":\"t5b2c8e41f0a7d3966c1e0b27\",\"organization\":\"Acme Bank\",\"agent\":{\"name\":"
           "\"alice\",\"display_name\":\"Alice\"},\"language\":\"en\",\"hop_count\":0,\"origin\":\"https://"
           "chat.acme.example\"}";
  return r;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

void erase_field(Fields& fields, std::string_view name) {
  std::erase_if(fields, [&](const auto& f) { return lower(f.first) == name; });
}

// The first inner list of Signature-Input, and its label.
bool first_input(const Fields& fields, std::string& label, sf::InnerList& params) {
  auto input = field_value(fields, "signature-input");
  if (!input) return false;
  auto dict = sf::parse_dictionary(*input);
  if (!dict) return false;
  for (const auto& m : *dict) {
    if (const auto* list = std::get_if<sf::InnerList>(&m.value)) {
      label = m.key;
      params = *list;
      return true;
    }
  }
  return false;
}

void bases(const Fields& fields, const RequestMessage* request, const ResponseMessage* response) {
  auto input = field_value(fields, "signature-input");
  if (!input) return;
  auto dict = sf::parse_dictionary(*input);
  if (!dict) return;
  for (const auto& m : *dict) {
    const auto* list = std::get_if<sf::InnerList>(&m.value);
    if (!list) continue;
    if (response) {
      (void)signature_base(*list, *response, request);
    } else {
      (void)signature_base(*list, *request);
    }
  }
}

// Whatever the Signer agrees to sign must verify.
void sign_and_verify(const RequestMessage& m, std::string_view content_type) {
  auto& k = keys();
  Signer signer(k.acme, k.clock, k.random);
  OutgoingRequest out{m.method, m.authority, m.path, m.query, std::string(content_type), m.body};
  auto headers = signer.sign_request(out);
  if (!headers) return;
  Verifier verifier(k.options(), k.clock);
  auto verified = verifier.verify_request(signed_message(out, *headers));
  if (!verified) std::fprintf(stderr, "refused: %s\n", verified.error().message.c_str());
  FUZZ_CHECK(verified.ok());
  FUZZ_CHECK(verified->peer == "acme");

  Signer answerer(k.northwind, k.clock, k.random);
  OutgoingResponse res{200, std::string(content_type), m.body};
  RequestMessage sent = signed_message(out, *headers);
  auto rh = answerer.sign_response(res, sent);
  if (!rh) return;
  auto rv = verifier.verify_response(signed_message(res, *rh), sent);
  if (!rv) std::fprintf(stderr, "response refused: %s\n", rv.error().message.c_str());
  FUZZ_CHECK(rv.ok());
  FUZZ_CHECK(rv->peer == "northwind");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto take_line = [&in]() {
    auto nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  };
  std::string_view first = take_line();
  Fields fields;
  bool sign = false, digest = false;
  while (!in.empty()) {
    std::string_view line = take_line();
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name = lower(line.substr(0, colon));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (name == "x-fuzz-sign") { sign = true; continue; }
    if (name == "x-fuzz-digest") { digest = true; continue; }
    fields.emplace_back(std::move(name), std::string(value));
  }
  std::string body(in);
  if (digest) {
    erase_field(fields, "content-digest");
    fields.emplace_back("content-digest", make_content_digest(body));
  }

  auto& k = keys();
  Verifier verifier(k.options(), k.clock);
  if (first.substr(0, 9) == "RESPONSE ") {
    int status = 0;
    for (char c : first.substr(9, 3)) status = c >= '0' && c <= '9' ? status * 10 + (c - '0') : status;
    RequestMessage request = example_request();
    ResponseMessage response{status, fields, body};
    if (sign) {
      std::string label;
      sf::InnerList params;
      if (first_input(response.headers, label, params)) {
        auto base = signature_base(params, response, &request);
        if (base) {
          erase_field(response.headers, "signature");
          response.headers.emplace_back(
              "signature", label + "=:" + base64_encode(sign_detached(k.northwind.secret_key, *base)) + ":");
        }
      }
    }
    bases(response.headers, &request, &response);
    auto verified = verifier.verify_response(response, request);
    if (std::getenv("FUZZ_VERBOSE"))
      std::fprintf(stderr, "response: %s\n", verified ? "verified" : verified.error().message.c_str());
    (void)verifier.verify_response(response, request, "other");
    return 0;
  }

  RequestMessage request;
  auto space = first.find(' ');
  request.method = std::string(first.substr(0, space));
  std::string_view target = space == std::string_view::npos ? std::string_view{} : first.substr(space + 1);
  auto q = target.find('?');
  request.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) request.query = std::string(target.substr(q + 1));
  request.authority = std::string(kAuthority);
  request.headers = std::move(fields);
  request.body = body;
  if (sign) {
    std::string label;
    sf::InnerList params;
    if (first_input(request.headers, label, params)) {
      auto base = signature_base(params, request);
      if (base) {
        erase_field(request.headers, "signature");
        request.headers.emplace_back(
            "signature", label + "=:" + base64_encode(sign_detached(k.acme.secret_key, *base)) + ":");
      }
    }
  }
  bases(request.headers, &request, nullptr);
  auto verified = verifier.verify_request(request);
  if (std::getenv("FUZZ_VERBOSE"))
    std::fprintf(stderr, "request: %s\n", verified ? "verified" : verified.error().message.c_str());
  if (verified) {
    // The same message again is a replay, whatever else it is.
    auto again = verifier.verify_request(request);
    FUZZ_CHECK(!again.ok());
  }
  auto ct = field_value(request.headers, "content-type");
  sign_and_verify(request, ct ? std::string_view(*ct) : std::string_view("application/json"));
  return 0;
}
