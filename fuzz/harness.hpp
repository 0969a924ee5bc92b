// One organization's server in the fuzzer's process, wired as App::start wires
// it (store, hub, sessions, the API service, federation with pinned keys), minus
// the listening socket: fuzz targets hand it requests, realtime messages and
// federation messages and run its io_context until they are answered.
//
// The organization is Northwind Insurance of docs/federation.md §5 (its key, its
// code secret, Acme Bank as its peer), on a clock fixed at that example's time,
// so that the example's signed messages verify. State persists from one input to
// the next, as on a real server; the database lives in a temporary folder.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "baton/http/message.hpp"

namespace baton::fuzz {

class Org {
 public:
  // Built on first use; lives until the process ends. Not thread-safe: one fuzz
  // input at a time.
  static Org& get();

  // Call before each input: brings back a waiting conversation and a signed-in
  // agent if the previous inputs closed the one or signed out the other.
  void begin_input();
  // Hands `req` to ApiService::handle (or ::upgrade for a WebSocket upgrade) and
  // runs everything until the response is there and all follow-up work is done.
  http::Response handle(http::Request req);
  // A /ws socket as the server accepts it: upgrade, then each text in order, then
  // close. Returns what was sent to the client.
  std::vector<std::string> realtime(const std::vector<std::string>& texts, std::string origin = {});
  // A server-to-server request from Acme Bank, signed with its key, to `path`.
  http::Response signed_from_acme(const std::string& path, const std::string& body,
                                  const std::string& content_type = "application/json");

  // Fuzz inputs may name these with same-length placeholders (see replace_placeholders).
  const std::string& conversation() const;    // a waiting conversation
  const std::string& visitor_token() const;   // its visitor's token
  const std::string& agent_token() const;     // agent bob's session token
  // Replaces kConversationPlaceholder, kVisitorTokenPlaceholder and
  // kAgentTokenPlaceholder with the real values (same lengths, so that a
  // Content-Length stays right).
  std::string replace_placeholders(std::string_view in) const;

  // A join code for a visitor Acme Bank has just transferred here (offer and
  // context packet accepted), good for one redemption.
  std::string fresh_join_code();

  ~Org();

 private:
  Org();
  struct Parts;
  std::unique_ptr<Parts> p_;
};

// "c" + 24 characters, and two 43-character tokens: the shapes of the real values.
inline const std::string kConversationPlaceholder = "cCONVERSATIONxxxxxxxxxxxx";
inline const std::string kVisitorTokenPlaceholder = "VISITOR_TOKENxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
inline const std::string kAgentTokenPlaceholder = "AGENT_TOKENxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
// For the pages fuzzer: replaced by fresh_join_code().
inline const std::string kJoinCodePlaceholder = "JOIN_CODExxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

}  // namespace baton::fuzz
