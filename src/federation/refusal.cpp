#include "refusal.hpp"

#include <array>

namespace baton::federation {
namespace {

constexpr std::array kAll = {
    Refusal::missing_header,         Refusal::header_too_large,
    Refusal::malformed_header,       Refusal::ambiguous_signature,
    Refusal::component_not_covered,  Refusal::component_missing,
    Refusal::unsupported_component,  Refusal::tag_missing,
    Refusal::tag_mismatch,           Refusal::alg_mismatch,
    Refusal::keyid_missing,          Refusal::unknown_key,
    Refusal::created_missing,        Refusal::expires_missing,
    Refusal::created_in_future,      Refusal::signature_expired,
    Refusal::validity_too_long,      Refusal::nonce_missing,
    Refusal::nonce_invalid,          Refusal::nonce_replayed,
    Refusal::replay_cache_full,      Refusal::content_digest_missing,
    Refusal::content_digest_unsupported, Refusal::content_digest_mismatch,
    Refusal::bad_signature,
};

core::Errc errc_of(Refusal r) {
  switch (r) {
    case Refusal::header_too_large: return core::Errc::too_large;
    case Refusal::malformed_header:
    case Refusal::ambiguous_signature: return core::Errc::bad_request;
    case Refusal::replay_cache_full: return core::Errc::unavailable;
    default: return core::Errc::unauthorized;
  }
}

}  // namespace

std::string_view refusal_name(Refusal r) {
  switch (r) {
    case Refusal::missing_header: return "missing_header";
    case Refusal::header_too_large: return "header_too_large";
    case Refusal::malformed_header: return "malformed_header";
    case Refusal::ambiguous_signature: return "ambiguous_signature";
    case Refusal::component_not_covered: return "component_not_covered";
    case Refusal::component_missing: return "component_missing";
    case Refusal::unsupported_component: return "unsupported_component";
    case Refusal::tag_missing: return "tag_missing";
    case Refusal::tag_mismatch: return "tag_mismatch";
    case Refusal::alg_mismatch: return "alg_mismatch";
    case Refusal::keyid_missing: return "keyid_missing";
    case Refusal::unknown_key: return "unknown_key";
    case Refusal::created_missing: return "created_missing";
    case Refusal::expires_missing: return "expires_missing";
    case Refusal::created_in_future: return "created_in_future";
    case Refusal::signature_expired: return "signature_expired";
    case Refusal::validity_too_long: return "validity_too_long";
    case Refusal::nonce_missing: return "nonce_missing";
    case Refusal::nonce_invalid: return "nonce_invalid";
    case Refusal::nonce_replayed: return "nonce_replayed";
    case Refusal::replay_cache_full: return "replay_cache_full";
    case Refusal::content_digest_missing: return "content_digest_missing";
    case Refusal::content_digest_unsupported: return "content_digest_unsupported";
    case Refusal::content_digest_mismatch: return "content_digest_mismatch";
    case Refusal::bad_signature: return "bad_signature";
  }
  return "bad_signature";
}

core::Error refuse(Refusal r, std::string_view detail) {
  std::string message(refusal_name(r));
  message += ": ";
  message += detail;
  return core::Error{errc_of(r), std::move(message)};
}

std::optional<Refusal> refusal_of(const core::Error& error) {
  std::string_view message = error.message;
  auto colon = message.find(": ");
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view name = message.substr(0, colon);
  for (Refusal r : kAll) {
    if (refusal_name(r) == name && errc_of(r) == error.code) return r;
  }
  return std::nullopt;
}

}  // namespace baton::federation
