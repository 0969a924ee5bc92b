// The steps every scenario takes with a Baton server, as the chat page and the
// console take them (docs/api.md): sign an agent in, start a visitor's
// conversation, build the realtime requests.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <string>

#include "loopback/client.hpp"

namespace baton::bench {

// The loopback clients (tools/loopback), as every scenario uses them.
using loopback::Endpoint;
using loopback::HttpClient;
using loopback::Reply;
using loopback::Request;
using loopback::WsClient;
// The options of every HTTP client of the load generator: no time limit.
inline const loopback::HttpOptions kHttp{.user_agent = "baton-loadgen"};

// POST /api/agent/session; returns the session token. Throws std::runtime_error.
boost::asio::awaitable<std::string> sign_in(HttpClient& http, const std::string& name, const std::string& password);

struct NewConversation {
  std::string conversation;
  std::string token;
  std::string state;  // "waiting" or "active"
};
// POST /api/visitor/conversations for `site`, without a first message.
boost::asio::awaitable<NewConversation> start_conversation(HttpClient& http, const std::string& site,
                                                           const std::string& name);

std::string hello_visitor(const std::string& conversation, const std::string& token, std::int64_t last_seq = 0);
std::string hello_agent(const std::string& token);
std::string subscribe(const std::string& conversation, std::int64_t after_seq = 0);
// A chat message; `conversation` may be empty for a visitor.
std::string message(const std::string& conversation, const std::string& client_id, const std::string& text);

}  // namespace baton::bench
