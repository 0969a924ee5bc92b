// HTTP Message Signatures (RFC 9421) with Ed25519 for server-to-server
// federation (DESIGN.md §2.5). No networking: callers hand in the parts of a
// message and get header values back, or a verdict.
//
// A request signature covers exactly
//   "@method" "@authority" "@path" "@query" "content-type" "content-digest"
// and a response signature covers
//   "@status" "content-type" "content-digest" "@method";req "@authority";req
//   "@path";req "@query";req "signature";req;key="sig1"
// (RFC 9421 §2.4: the response is bound to the request's signature). Both carry
//   ;created=<s>;expires=<created + at most 120>;nonce="<128 random bits, base64url>"
//   ;keyid="<key id>";alg="ed25519";tag="baton-federation-v1"
// under the label "sig1", with Content-Digest (RFC 9530, sha-256) of the body.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "baton/core/clock.hpp"
#include "baton/core/store.hpp"
#include "baton/core/error.hpp"
#include "baton/federation/keys.hpp"
#include "baton/federation/nonce_cache.hpp"
#include "baton/federation/structured_fields.hpp"

namespace baton::federation {

inline constexpr std::string_view kSignatureLabel = "sig1";
inline constexpr std::string_view kSignatureTag = "baton-federation-v1";
inline constexpr std::string_view kSignatureAlg = "ed25519";
inline constexpr std::int64_t kMaxValiditySeconds = 120;
inline constexpr std::size_t kNonceBytes = 16;

// Header fields as (name, value) pairs, one per field line, in order; names are
// compared case-insensitively. The same shape as http::Headers.
using Fields = std::vector<std::pair<std::string, std::string>>;

// A request as signature base construction sees it.
struct RequestMessage {
  std::string method;     // as on the request line, e.g. "POST" (case-sensitive)
  std::string authority;  // host[:port] the client addressed (the Host header), default port
                          // omitted; compared lower-cased
  std::string path;       // the raw path, as sent (not percent-decoded), without the query
  std::string query;      // the raw query, with or without its leading '?'; "" for none
  Fields headers;
  std::string body;
};

struct ResponseMessage {
  int status = 200;
  Fields headers;
  std::string body;
};

// What the signer needs of an outgoing request. Every signed request carries a
// Content-Type (also a GET with an empty body), since the signature covers it.
struct OutgoingRequest {
  std::string method;
  std::string authority;
  std::string path;
  std::string query;
  std::string content_type;
  std::string body;
};

struct OutgoingResponse {
  int status = 200;
  std::string content_type;
  std::string body;
};

// Values of the three header fields to send with the message, besides
// Content-Type: "Content-Digest", "Signature-Input" and "Signature".
struct SignatureHeaders {
  std::string content_digest;
  std::string signature_input;
  std::string signature;
};

// The message as it goes on the wire: the outgoing parts plus Content-Type and
// the three signature fields. A client keeps the request's to verify the response.
RequestMessage signed_message(const OutgoingRequest& request, const SignatureHeaders& headers);
ResponseMessage signed_message(const OutgoingResponse& response, const SignatureHeaders& headers);

// The combined value of a header field (field lines joined with ", ", each
// trimmed of SP/HTAB), or nullopt when there is no such line.
std::optional<std::string> field_value(const Fields& fields, std::string_view name);

// The signature base (RFC 9421 §2.5) for `params` (one Signature-Input member:
// covered component identifiers, then signature parameters) over a request, or a
// response and its request (for components with ;req; `request` may be null when
// none has it). Supports @method @authority @path @query @status and header
// fields, with the parameters req and key. Errors are refusals: malformed_header
// (not a component identifier, a duplicate, CR/LF in a value),
// unsupported_component, component_missing.
core::Result<std::string> signature_base(const sf::InnerList& params, const RequestMessage& request);
core::Result<std::string> signature_base(const sf::InnerList& params, const ResponseMessage& response,
                                         const RequestMessage* request);

// Signs outgoing requests and responses with this server's key. Thread-safe
// (const); `clock` and `random` must outlive it.
class Signer {
 public:
  // `validity_seconds` is clamped to [1, kMaxValiditySeconds]. The key id is
  // key_id(key.public_key) unless given.
  Signer(KeyPair key, const core::Clock& clock, core::Random& random,
         std::int64_t validity_seconds = kMaxValiditySeconds);
  Signer(KeyPair key, std::string key_id, const core::Clock& clock, core::Random& random,
         std::int64_t validity_seconds = kMaxValiditySeconds);

  // Errors: bad_request for an empty content type or method, or a part that
  // cannot go into a signature base (CR or LF, a non-ASCII key id).
  core::Result<SignatureHeaders> sign_request(const OutgoingRequest& request) const;

  // `request` is the request being answered, as received (with its Signature
  // field); the response signature covers its signature labelled `request_label`.
  core::Result<SignatureHeaders> sign_response(const OutgoingResponse& response,
                                               const RequestMessage& request,
                                               std::string_view request_label = kSignatureLabel) const;

  const std::string& key_id() const { return key_id_; }
  const PublicKey& public_key() const { return key_.public_key; }

 private:
  core::Result<SignatureHeaders> sign(std::vector<sf::Item> covered, const Fields& own_headers,
                                      const RequestMessage* request,
                                      const ResponseMessage* response) const;

  KeyPair key_;
  std::string key_id_;
  const core::Clock& clock_;
  core::Random& random_;
  std::int64_t validity_seconds_;
};

// A peer's public key from stored configuration, and who owns it.
struct PinnedKey {
  PublicKey public_key;
  std::string peer;  // the peer's configured name
};

// By key id (for our own keys: key_id(public_key)).
using PinnedKeys = std::map<std::string, PinnedKey, std::less<>>;

struct VerifierOptions {
  PinnedKeys keys;
  // Tolerated disagreement between clocks, both ways: `created` may be this far in
  // the future, and a signature is accepted this long after `expires`.
  std::int64_t max_skew_seconds = 60;
  // Live nonces remembered at most; past it messages are refused (replay_cache_full).
  // Each is kept max validity + skew (180 s by default): 100 000 allow about 550
  // accepted messages a second, in about 20 MB.
  std::size_t max_nonces = 100'000;
  sf::SfLimits limits;  // for Signature-Input, Signature and Content-Digest
};

// What a verified signature says.
struct Verified {
  std::string peer;    // owner of the key; the caller checks it equals the peer named in the body
  std::string key_id;
  std::string label;   // the Signature-Input member verified
  std::int64_t created = 0;
  std::int64_t expires = 0;
  std::string nonce;
  // The replay cache's key for the nonce, and when it is forgotten (ms): what a
  // server stores so that a restart does not forget it (core::SeenNonce).
  std::string nonce_key;
  core::Millis forget_at = 0;
};

// Verifies signed requests and responses from pinned peers. The algorithm is
// always Ed25519, from the stored key; a message's alg can only be refused.
// Thread-safe; `clock` must outlive it.
//
// The signature chosen is the one Signature-Input member whose tag is ours
// (whatever its label). Checks, cheapest first, each failure a distinct refusal
// (federation/refusal.hpp): fields present and well-formed; tag; alg; keyid
// pinned; required components covered; created/expires present, validity at most
// 120 s, not from the future, not expired (max skew either way); nonce present,
// base64url of at least 128 bits; Content-Digest present and matching the body;
// the Ed25519 signature over the rebuilt signature base; finally the nonce not
// seen before (remembered only once everything else passed).
class Verifier {
 public:
  Verifier(VerifierOptions options, const core::Clock& clock);

  core::Result<Verified> verify_request(const RequestMessage& request);

  // `request` is the request this response answers, as sent (with our Signature
  // field); the response must cover its signature labelled `request_label`.
  core::Result<Verified> verify_response(const ResponseMessage& response,
                                         const RequestMessage& request,
                                         std::string_view request_label = kSignatureLabel);

  // Replaces the pinned keys (configuration reload); remembered nonces stay.
  void replace_keys(PinnedKeys keys);

  std::size_t remembered_nonces() const { return nonces_.size(); }
  // Nonces accepted before a restart (from the store), refused again until their
  // forget_at. Call before serving.
  void preload(const std::vector<core::SeenNonce>& seen);

 private:
  core::Result<Verified> verify(const Fields& headers, std::string_view body,
                                const std::vector<sf::Item>& required,
                                const RequestMessage* request, const ResponseMessage* response);

  mutable std::mutex keys_mu_;
  PinnedKeys keys_;  // guarded by keys_mu_
  const std::int64_t max_skew_seconds_;
  const sf::SfLimits limits_;
  const core::Clock& clock_;
  NonceCache nonces_;
};

}  // namespace baton::federation
