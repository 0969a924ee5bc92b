#include "baton/federation/peer_client.hpp"

#include <boost/url/parse.hpp>

#include <thread>

namespace baton::federation {

using core::Errc;
using core::Error;

std::string authority_of(const std::string& base_url) {
  auto url = boost::urls::parse_absolute_uri(base_url);
  if (!url || !url->has_authority()) return {};
  return std::string(url->encoded_authority());
}

PeerClient::PeerClient(Transport& transport, const Signer& signer, Verifier& verifier,
                       std::chrono::milliseconds timeout, int attempts)
    : transport_(transport), signer_(signer), verifier_(verifier), timeout_(timeout),
      attempts_(attempts < 1 ? 1 : attempts) {}

core::Result<PeerReply> PeerClient::post(const PeerEndpoint& peer, const std::string& path,
                                         const std::string& json_body) {
  std::string last_error = "no attempt made";
  for (int attempt = 1; attempt <= attempts_; ++attempt) {
    if (attempt > 1) {
      // A short, growing pause: the peer may be restarting.
      std::this_thread::sleep_for(std::chrono::milliseconds(200 * (attempt - 1)));
    }
    OutgoingRequest out;
    out.method = "POST";
    out.authority = authority_of(peer.base_url);
    out.path = path;
    out.content_type = "application/json";
    out.body = json_body;
    // Signed afresh each time: a new nonce, so that the peer's replay check passes.
    auto headers = signer_.sign_request(out);
    if (!headers) return headers.error();
    RequestMessage sent = signed_message(out, *headers);
    TransportRequest req;
    req.method = out.method;
    req.path = out.path;
    req.headers = sent.headers;
    req.body = out.body;
    auto res = transport_.send(peer.base_url, req, timeout_);
    if (!res) {
      last_error = res.error().message;
      continue;
    }
    if (res->status >= 500) {
      last_error = "the peer answered " + std::to_string(res->status);
      continue;
    }
    ResponseMessage answer{res->status, res->headers, res->body};
    auto verified = verifier_.verify_response(answer, sent);
    if (!verified) {
      last_error = "the answer could not be verified: " + verified.error().message;
      continue;
    }
    if (verified->peer != peer.name) {
      last_error = "the answer was signed by " + verified->peer + ", not " + peer.name;
      continue;
    }
    return PeerReply{res->status, std::move(res->body)};
  }
  return Error{Errc::unavailable, peer.name + " could not be reached: " + last_error};
}

}  // namespace baton::federation
