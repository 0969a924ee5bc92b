#include "desk.hpp"

#include <boost/json.hpp>
#include <stdexcept>

#include "proto.hpp"

namespace baton::bench {

namespace net = boost::asio;
namespace json = boost::json;

net::awaitable<std::string> sign_in(HttpClient& http, const std::string& name, const std::string& password) {
  json::object body{{"username", name}, {"password", password}};
  Request req = loopback::post("/api/agent/session", json::serialize(body), "application/json");
  auto r = co_await http.request(req);
  if (r.status != 200) throw std::runtime_error("sign-in of " + name + ": HTTP " + std::to_string(r.status) + " " + r.body);
  co_return std::string(json::parse(r.body).at("token").as_string());
}

net::awaitable<NewConversation> start_conversation(HttpClient& http, const std::string& site,
                                                   const std::string& name) {
  json::object body{{"site", site}, {"name", name}};
  Request req = loopback::post("/api/visitor/conversations", json::serialize(body), "application/json");
  auto r = co_await http.request(req);
  if (r.status != 201)
    throw std::runtime_error("new conversation: HTTP " + std::to_string(r.status) + " " + r.body);
  auto v = json::parse(r.body);
  NewConversation out;
  out.conversation = std::string(v.at("conversation").as_string());
  out.token = std::string(v.at("token").as_string());
  out.state = std::string(v.at("state").as_string());
  co_return out;
}

std::string hello_visitor(const std::string& conversation, const std::string& token, std::int64_t last_seq) {
  return R"({"type":"hello","role":"visitor","conversation":)" + json_quote(conversation) +
         R"(,"token":)" + json_quote(token) + R"(,"last_seq":)" + std::to_string(last_seq) + "}";
}

std::string hello_agent(const std::string& token) {
  return R"({"type":"hello","role":"agent","token":)" + json_quote(token) + "}";
}

std::string subscribe(const std::string& conversation, std::int64_t after_seq) {
  return R"({"type":"subscribe","conversation":)" + json_quote(conversation) + R"(,"after_seq":)" +
         std::to_string(after_seq) + "}";
}

std::string message(const std::string& conversation, const std::string& client_id, const std::string& text) {
  std::string out = R"({"type":"message",)";
  if (!conversation.empty()) out += R"("conversation":)" + json_quote(conversation) + ",";
  out += R"("client_id":)" + json_quote(client_id) + R"(,"text":)" + json_quote(text) + "}";
  return out;
}

}  // namespace baton::bench
