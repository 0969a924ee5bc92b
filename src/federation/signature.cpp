#include "baton/federation/signature.hpp"

#include <algorithm>

#include "baton/core/text.hpp"
#include "base64.hpp"
#include "digest.hpp"
#include "refusal.hpp"

namespace baton::federation {
namespace {

// Where the components of a signature base come from: the message itself, and
// for a response, the request it answers (components with ;req).
struct Context {
  const RequestMessage* request = nullptr;
  const ResponseMessage* response = nullptr;  // null: the message is `request`
};

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

sf::Item component(std::string name, sf::Parameters params = {}) {
  return sf::Item{std::move(name), std::move(params)};
}

sf::Item req_component(std::string name) {
  return component(std::move(name), {sf::Parameter{"req", true}});
}

std::vector<sf::Item> request_components() {
  return {component("@method"),      component("@authority"),    component("@path"),
          component("@query"),       component("content-type"),  component("content-digest")};
}

std::vector<sf::Item> response_components(std::string_view request_label) {
  return {component("@status"),
          component("content-type"),
          component("content-digest"),
          req_component("@method"),
          req_component("@authority"),
          req_component("@path"),
          req_component("@query"),
          component("signature",
                    {sf::Parameter{"req", true}, sf::Parameter{"key", std::string(request_label)}})};
}

// Two component identifiers name the same component when names and parameter
// sets are equal; parameter order does not matter.
bool same_component(const sf::Item& a, const sf::Item& b) {
  if (a.value != b.value || a.params.size() != b.params.size()) return false;
  for (const auto& p : a.params) {
    const auto* q = sf::find_param(b.params, p.key);
    if (q == nullptr || q->value != p.value) return false;
  }
  return true;
}

std::string describe(const sf::Item& id) {
  auto text = sf::serialize_item(id);
  return text ? *text : std::string("(component)");
}

core::Result<std::string> derive(const sf::Item& id, const Context& ctx, const sf::SfLimits& limits) {
  const auto* name_ptr = std::get_if<std::string>(&id.value);
  if (name_ptr == nullptr) {
    return refuse(Refusal::malformed_header, "a covered component identifier is not a string");
  }
  const std::string& name = *name_ptr;
  if (name.empty()) return refuse(Refusal::malformed_header, "empty component name");
  for (char c : name) {
    if (c >= 'A' && c <= 'Z') {
      return refuse(Refusal::malformed_header, "component name '" + name + "' is not lower case");
    }
  }
  bool req = false;
  const std::string* key = nullptr;
  for (const auto& p : id.params) {
    if (p.key == "req") {
      const auto* flag = std::get_if<bool>(&p.value);
      if (flag == nullptr || !*flag) {
        return refuse(Refusal::malformed_header, "component parameter req must be a bare flag");
      }
      req = true;
    } else if (p.key == "key") {
      key = std::get_if<std::string>(&p.value);
      if (key == nullptr) {
        return refuse(Refusal::malformed_header, "component parameter key must be a string");
      }
    } else {
      return refuse(Refusal::unsupported_component,
                    "component parameter '" + p.key + "' is not supported (" + describe(id) + ")");
    }
  }
  if (req && ctx.response == nullptr) {
    return refuse(Refusal::unsupported_component, describe(id) + ": ;req is only for responses");
  }
  if (req && ctx.request == nullptr) {
    return refuse(Refusal::component_missing, describe(id) + ": no request to take it from");
  }
  // The request the component comes from, when it comes from a request.
  const RequestMessage* request = (req || ctx.response == nullptr) ? ctx.request : nullptr;

  std::string value;
  if (name.front() == '@') {
    if (key != nullptr) {
      return refuse(Refusal::unsupported_component, describe(id) + ": key applies to fields only");
    }
    if (name == "@status") {
      if (request != nullptr) {
        return refuse(Refusal::unsupported_component, "@status exists on responses only");
      }
      int status = ctx.response->status;
      if (status < 100 || status > 999) {
        return refuse(Refusal::malformed_header, "status " + std::to_string(status) + " is not 3 digits");
      }
      value = std::to_string(status);
    } else if (name == "@method" || name == "@authority" || name == "@path" || name == "@query") {
      if (request == nullptr) {
        return refuse(Refusal::unsupported_component, name + " on a response needs ;req");
      }
      if (name == "@method") {
        value = request->method;
      } else if (name == "@authority") {
        value = core::ascii_lower(request->authority);
      } else if (name == "@path") {
        value = request->path.empty() ? "/" : request->path;  // RFC 9421 §2.2.6
      } else {
        std::string_view q = request->query;
        if (!q.empty() && q.front() == '?') q.remove_prefix(1);
        value = "?" + std::string(q);  // RFC 9421 §2.2.7: "?" alone for an empty query
      }
      if (value.empty()) return refuse(Refusal::component_missing, name + " is empty");
    } else if (name == "@signature-params") {
      return refuse(Refusal::malformed_header, "@signature-params cannot be a covered component");
    } else {
      return refuse(Refusal::unsupported_component, "derived component " + name + " is not supported");
    }
  } else {
    const Fields& fields = request != nullptr ? request->headers : ctx.response->headers;
    auto combined = field_value(fields, name);
    if (!combined) return refuse(Refusal::component_missing, "covered field " + describe(id) + " is absent");
    if (key == nullptr) {
      value = std::move(*combined);
    } else {
      // RFC 9421 §2.1.2: the member's value, re-serialized.
      auto dict = sf::parse_dictionary(*combined, limits);
      if (!dict) {
        return refuse(dict.error().code == core::Errc::too_large ? Refusal::header_too_large
                                                                  : Refusal::malformed_header,
                      name + ": " + dict.error().message);
      }
      const auto* member = sf::find_member(*dict, *key);
      if (member == nullptr) {
        return refuse(Refusal::component_missing, "field " + name + " has no member '" + *key + "'");
      }
      auto text = std::holds_alternative<sf::Item>(member->value)
                      ? sf::serialize_item(std::get<sf::Item>(member->value))
                      : sf::serialize_inner_list(std::get<sf::InnerList>(member->value));
      if (!text) return refuse(Refusal::malformed_header, text.error().message);
      value = std::move(*text);
    }
  }
  // A line break in a value would let one component forge the next line.
  if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
    return refuse(Refusal::malformed_header, describe(id) + " has CR, LF or NUL in its value");
  }
  return value;
}

core::Result<std::string> build_base(const sf::InnerList& params, const Context& ctx,
                                     const sf::SfLimits& limits) {
  std::string base;
  for (std::size_t i = 0; i < params.items.size(); ++i) {
    const auto& id = params.items[i];
    for (std::size_t j = 0; j < i; ++j) {
      if (same_component(params.items[j], id)) {
        return refuse(Refusal::malformed_header, describe(id) + " is covered twice");
      }
    }
    auto value = derive(id, ctx, limits);
    if (!value) return value.error();
    auto id_text = sf::serialize_item(id);
    if (!id_text) return refuse(Refusal::malformed_header, id_text.error().message);
    base += *id_text;
    base += ": ";
    base += *value;
    base += '\n';
  }
  auto params_text = sf::serialize_inner_list(params);
  if (!params_text) return refuse(Refusal::malformed_header, params_text.error().message);
  base += "\"@signature-params\": ";
  base += *params_text;
  return base;
}

core::Error malformed_or_too_large(const core::Error& e, std::string_view field) {
  return refuse(e.code == core::Errc::too_large ? Refusal::header_too_large : Refusal::malformed_header,
                std::string(field) + ": " + e.message);
}

// A signature parameter of type T, or null when absent; a malformed_header
// refusal when present with another type.
template <typename T>
core::Result<const T*> param_of(const sf::Parameters& params, std::string_view key,
                                std::string_view type_name) {
  const auto* p = sf::find_param(params, key);
  if (p == nullptr) return static_cast<const T*>(nullptr);
  const auto* value = std::get_if<T>(&p->value);
  if (value == nullptr) {
    return refuse(Refusal::malformed_header,
                  "signature parameter " + std::string(key) + " must be " + std::string(type_name));
  }
  return value;
}

}  // namespace

std::optional<std::string> field_value(const Fields& fields, std::string_view name) {
  std::optional<std::string> out;
  for (const auto& [field_name, value] : fields) {
    if (!equal_ignoring_case(field_name, name)) continue;
    if (!out) {
      out.emplace();
    } else {
      *out += ", ";
    }
    *out += trim_ows(value);
  }
  return out;
}

RequestMessage signed_message(const OutgoingRequest& request, const SignatureHeaders& headers) {
  return RequestMessage{request.method,
                        request.authority,
                        request.path,
                        request.query,
                        {{"content-type", request.content_type},
                         {"content-digest", headers.content_digest},
                         {"signature-input", headers.signature_input},
                         {"signature", headers.signature}},
                        request.body};
}

ResponseMessage signed_message(const OutgoingResponse& response, const SignatureHeaders& headers) {
  return ResponseMessage{response.status,
                         {{"content-type", response.content_type},
                          {"content-digest", headers.content_digest},
                          {"signature-input", headers.signature_input},
                          {"signature", headers.signature}},
                         response.body};
}

core::Result<std::string> signature_base(const sf::InnerList& params, const RequestMessage& request) {
  return build_base(params, Context{&request, nullptr}, sf::SfLimits{});
}

core::Result<std::string> signature_base(const sf::InnerList& params, const ResponseMessage& response,
                                         const RequestMessage* request) {
  return build_base(params, Context{request, &response}, sf::SfLimits{});
}

// ---- Signer --------------------------------------------------------------------------------------

Signer::Signer(KeyPair key, const core::Clock& clock, core::Random& random,
               std::int64_t validity_seconds)
    : Signer(key, federation::key_id(key.public_key), clock, random, validity_seconds) {}

Signer::Signer(KeyPair key, std::string key_id, const core::Clock& clock, core::Random& random,
               std::int64_t validity_seconds)
    : key_(std::move(key)),
      key_id_(std::move(key_id)),
      clock_(clock),
      random_(random),
      validity_seconds_(std::clamp<std::int64_t>(validity_seconds, 1, kMaxValiditySeconds)) {}

core::Result<SignatureHeaders> Signer::sign(std::vector<sf::Item> covered, const Fields& own_headers,
                                            const RequestMessage* request,
                                            const ResponseMessage* response) const {
  const std::int64_t created = clock_.now() / 1000;
  sf::InnerList params{std::move(covered),
                       {sf::Parameter{"created", created},
                        sf::Parameter{"expires", created + validity_seconds_},
                        sf::Parameter{"nonce", random_.token(kNonceBytes)},
                        sf::Parameter{"keyid", key_id_},
                        sf::Parameter{"alg", std::string(kSignatureAlg)},
                        sf::Parameter{"tag", std::string(kSignatureTag)}}};
  auto base = response != nullptr ? build_base(params, Context{request, response}, sf::SfLimits{})
                                  : build_base(params, Context{request, nullptr}, sf::SfLimits{});
  if (!base) return core::Error{core::Errc::bad_request, "cannot sign: " + base.error().message};
  auto input = sf::serialize_dictionary({sf::DictMember{std::string(kSignatureLabel), params}});
  if (!input) return core::Error{core::Errc::bad_request, "cannot sign: " + input.error().message};
  auto signature = sf::serialize_dictionary({sf::DictMember{
      std::string(kSignatureLabel), sf::Item{sf::Bytes{sign_detached(key_.secret_key, *base)}, {}}}});
  if (!signature) return signature.error();
  return SignatureHeaders{*field_value(own_headers, "content-digest"), std::move(*input),
                          std::move(*signature)};
}

core::Result<SignatureHeaders> Signer::sign_request(const OutgoingRequest& request) const {
  if (request.method.empty()) return core::Error{core::Errc::bad_request, "cannot sign: no method"};
  if (request.content_type.empty()) {
    return core::Error{core::Errc::bad_request, "cannot sign: no content type"};
  }
  RequestMessage message{request.method,
                         request.authority,
                         request.path,
                         request.query,
                         {{"content-type", request.content_type},
                          {"content-digest", make_content_digest(request.body)}},
                         {}};
  return sign(request_components(), message.headers, &message, nullptr);
}

core::Result<SignatureHeaders> Signer::sign_response(const OutgoingResponse& response,
                                                     const RequestMessage& request,
                                                     std::string_view request_label) const {
  if (response.content_type.empty()) {
    return core::Error{core::Errc::bad_request, "cannot sign: no content type"};
  }
  ResponseMessage message{response.status,
                          {{"content-type", response.content_type},
                           {"content-digest", make_content_digest(response.body)}},
                          {}};
  return sign(response_components(request_label), message.headers, &request, &message);
}

// ---- Verifier ------------------------------------------------------------------------------------

Verifier::Verifier(VerifierOptions options, const core::Clock& clock)
    : keys_(std::move(options.keys)),
      max_skew_seconds_(std::max<std::int64_t>(options.max_skew_seconds, 0)),
      limits_(options.limits),
      clock_(clock),
      nonces_(options.max_nonces) {}

void Verifier::replace_keys(PinnedKeys keys) {
  std::lock_guard lock(keys_mu_);
  keys_ = std::move(keys);
}

core::Result<Verified> Verifier::verify_request(const RequestMessage& request) {
  return verify(request.headers, request.body, request_components(), &request, nullptr);
}

core::Result<Verified> Verifier::verify_response(const ResponseMessage& response,
                                                 const RequestMessage& request,
                                                 std::string_view request_label) {
  return verify(response.headers, response.body, response_components(request_label), &request,
                &response);
}

core::Result<Verified> Verifier::verify(const Fields& headers, std::string_view body,
                                        const std::vector<sf::Item>& required,
                                        const RequestMessage* request,
                                        const ResponseMessage* response) {
  // Fields present and well-formed.
  auto input_field = field_value(headers, "signature-input");
  if (!input_field) return refuse(Refusal::missing_header, "no Signature-Input field");
  auto signature_field = field_value(headers, "signature");
  if (!signature_field) return refuse(Refusal::missing_header, "no Signature field");
  auto inputs = sf::parse_dictionary(*input_field, limits_);
  if (!inputs) return malformed_or_too_large(inputs.error(), "Signature-Input");
  auto signatures = sf::parse_dictionary(*signature_field, limits_);
  if (!signatures) return malformed_or_too_large(signatures.error(), "Signature");

  // Our signature: the one member tagged for Baton federation.
  const sf::DictMember* chosen = nullptr;
  std::string other_tag;
  for (const auto& member : *inputs) {
    const auto* list = std::get_if<sf::InnerList>(&member.value);
    if (list == nullptr) {
      return refuse(Refusal::malformed_header, "Signature-Input member " + member.key +
                                                   " is not an inner list");
    }
    auto tag = param_of<std::string>(list->params, "tag", "a string");
    if (!tag) return tag.error();
    if (*tag == nullptr) continue;
    if (**tag != kSignatureTag) {
      other_tag = **tag;
      continue;
    }
    if (chosen != nullptr) {
      return refuse(Refusal::ambiguous_signature, "more than one signature is tagged " +
                                                      std::string(kSignatureTag));
    }
    chosen = &member;
  }
  if (chosen == nullptr) {
    if (!other_tag.empty()) {
      return refuse(Refusal::tag_mismatch, "tag \"" + other_tag + "\" is not \"" +
                                               std::string(kSignatureTag) + "\"");
    }
    return refuse(Refusal::tag_missing, "no signature has a tag");
  }
  const std::string& label = chosen->key;
  const auto& params = std::get<sf::InnerList>(chosen->value);
  const auto* signature_member = sf::find_member(*signatures, label);
  if (signature_member == nullptr) {
    return refuse(Refusal::missing_header, "Signature has no member " + label);
  }
  const auto* signature_item = std::get_if<sf::Item>(&signature_member->value);
  const auto* signature_bytes =
      signature_item != nullptr ? std::get_if<sf::Bytes>(&signature_item->value) : nullptr;
  if (signature_bytes == nullptr) {
    return refuse(Refusal::malformed_header, "Signature member " + label + " is not a byte sequence");
  }

  auto created = param_of<std::int64_t>(params.params, "created", "an integer");
  if (!created) return created.error();
  auto expires = param_of<std::int64_t>(params.params, "expires", "an integer");
  if (!expires) return expires.error();
  auto nonce = param_of<std::string>(params.params, "nonce", "a string");
  if (!nonce) return nonce.error();
  auto keyid = param_of<std::string>(params.params, "keyid", "a string");
  if (!keyid) return keyid.error();
  auto alg = param_of<std::string>(params.params, "alg", "a string");
  if (!alg) return alg.error();

  // The algorithm is the stored key's; a message can name it, never choose it.
  if (*alg != nullptr && **alg != kSignatureAlg) {
    return refuse(Refusal::alg_mismatch, "alg \"" + **alg + "\" is not \"ed25519\"");
  }
  if (*keyid == nullptr) return refuse(Refusal::keyid_missing, "no keyid parameter");
  PinnedKey pinned;
  {
    std::lock_guard lock(keys_mu_);
    auto it = keys_.find(**keyid);
    if (it == keys_.end()) return refuse(Refusal::unknown_key, "keyid \"" + **keyid + "\" is not pinned");
    pinned = it->second;
  }

  for (const auto& want : required) {
    bool covered = std::any_of(params.items.begin(), params.items.end(),
                               [&](const sf::Item& have) { return same_component(have, want); });
    if (!covered) return refuse(Refusal::component_not_covered, describe(want) + " is not covered");
  }

  if (*created == nullptr) return refuse(Refusal::created_missing, "no created parameter");
  if (*expires == nullptr) return refuse(Refusal::expires_missing, "no expires parameter");
  const std::int64_t created_s = **created;
  const std::int64_t expires_s = **expires;
  const std::int64_t validity = expires_s - created_s;
  if (validity <= 0 || validity > kMaxValiditySeconds) {
    return refuse(Refusal::validity_too_long,
                  "expires - created is " + std::to_string(validity) + " s; it must be 1 to " +
                      std::to_string(kMaxValiditySeconds));
  }
  const core::Millis now_ms = clock_.now();
  const std::int64_t now_s = now_ms / 1000;
  if (created_s > now_s + max_skew_seconds_) {
    return refuse(Refusal::created_in_future, "created " + std::to_string(created_s) +
                                                  " is ahead of now " + std::to_string(now_s) +
                                                  " by more than the allowed skew");
  }
  if (now_s > expires_s + max_skew_seconds_) {
    return refuse(Refusal::signature_expired,
                  "expired at " + std::to_string(expires_s) + ", now " + std::to_string(now_s));
  }

  if (*nonce == nullptr) return refuse(Refusal::nonce_missing, "no nonce parameter");
  const std::string& nonce_text = **nonce;
  if (nonce_text.size() > 128) return refuse(Refusal::nonce_invalid, "nonce is too long");
  auto nonce_raw = base64_decode(nonce_text, Base64Alphabet::url, Base64Padding::none,
                                 /*canonical=*/true);
  if (!nonce_raw) return refuse(Refusal::nonce_invalid, "nonce is not base64url without padding");
  if (nonce_raw->size() < kNonceBytes) {
    return refuse(Refusal::nonce_invalid, "nonce has " + std::to_string(nonce_raw->size() * 8) +
                                              " bits; at least 128 are required");
  }

  auto digest_field = field_value(headers, "content-digest");
  if (!digest_field) return refuse(Refusal::content_digest_missing, "no Content-Digest field");
  auto digest = verify_content_digest(*digest_field, body, limits_);
  if (!digest) return digest.error();

  auto base = build_base(params, Context{request, response}, limits_);
  if (!base) return base.error();
  if (!verify_detached(pinned.public_key, *base, signature_bytes->data)) {
    return refuse(Refusal::bad_signature, "signature " + label + " does not verify with key " + **keyid);
  }

  // Remembered per key, so one peer cannot burn another's nonces, and only now,
  // so that nothing unauthenticated takes room in the cache.
  const core::Millis forget_at = (expires_s + max_skew_seconds_ + 1) * 1000;
  switch (nonces_.remember(**keyid + "\n" + nonce_text, forget_at, now_ms)) {
    case NonceCache::Outcome::remembered: break;
    case NonceCache::Outcome::replayed:
      return refuse(Refusal::nonce_replayed, "nonce " + nonce_text + " was already used");
    case NonceCache::Outcome::full:
      return refuse(Refusal::replay_cache_full,
                    "too many recent signatures to remember another; retry shortly");
  }
  return Verified{pinned.peer, **keyid, label, created_s, expires_s, nonce_text, **keyid + "\n" + nonce_text, forget_at};
}

void Verifier::preload(const std::vector<core::SeenNonce>& seen) {
  core::Millis now = clock_.now();
  for (const auto& n : seen) nonces_.remember(n.key, n.forget_at, now);
}

}  // namespace baton::federation
