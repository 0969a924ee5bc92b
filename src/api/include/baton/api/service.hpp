// The HTTP face of one organization: pages, assets, the JSON API and the
// WebSocket upgrade. See docs/api.md for every endpoint.
#pragma once

#include <chrono>
#include <deque>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <string>

#include "baton/api/hub.hpp"
#include "baton/api/sessions.hpp"
#include "baton/federation/signature.hpp"
#include "baton/http/server.hpp"

namespace baton::api {

class ApiService final : public http::Service {
 public:
  // All references must outlive the service. `clock` is the wall clock the limit on
  // join-code guessing counts with. Call load() before serving.
  ApiService(Hub& hub, Sessions& sessions, http::HttpMetrics& metrics, const core::Clock& clock);

  // Rebuilds the limit on join-code guessing from the failures stored before a
  // restart (those of the last minute). Blocking (reads the store); call once,
  // before serving. Errors: whatever the store's read returned.
  core::Status load();

  // Turns on the server-to-server API and /.well-known/baton. All must outlive the service.
  void enable_federation(federation::Signer& signer, federation::Verifier& verifier,
                         std::vector<std::string> published_keys, const core::Clock& clock);

  void handle(http::Request req, Respond respond) override;
  std::shared_ptr<http::WsHandler> upgrade(const http::Request& req, http::Response& refusal) override;

 private:
  void route(http::Request& req, Respond& respond);
  void with_agent(const http::Request& req, Respond respond, std::function<void(Actor)> next);
  // An agent (session token) or the conversation's own visitor (its token).
  void with_reader(const http::Request& req, const std::string& conversation, Respond respond,
                   std::function<void(Actor)> next);
  std::optional<http::Response> load_asset(std::string_view file) const;
  void page(std::string_view file, Respond& respond);
  void asset(std::string_view file, Respond& respond);
  void metrics(Respond respond);
  void sign_in(const http::Request& req, Respond respond);
  void sign_out(const http::Request& req, Respond respond);
  void me(const http::Request& req, Respond respond);
  void list(const http::Request& req, Respond respond);
  void conversation(const http::Request& req, const std::string& id, Respond respond);
  void events(const http::Request& req, const std::string& id, Respond respond);
  void transcript(const http::Request& req, const std::string& id, Respond respond);
  void transfers(const http::Request& req, const std::string& id, Respond respond);
  void availability(const http::Request& req, Respond respond);
  void create(const http::Request& req, Respond respond);

  void federation_request(const http::Request& req, const std::string& action, const std::string& transfer_id,
                          Respond respond);
  void well_known(Respond& respond);
  void transfer_page(const http::Request& req, Respond respond);
  void transfer_stay(const http::Request& req, Respond respond);
  void join_page(Respond& respond);
  void join(const http::Request& req, Respond respond);
  void handoff(const http::Request& req, Respond respond);

  std::string own_origin() const;
  // Cross-site request forgery: a browser's state-changing request must come from our own pages.
  bool same_origin_write(const http::Request& req) const;
  bool origin_allowed_for_site(std::string_view origin, const Site* site) const;
  std::string chat_frame_ancestors() const;

  Hub& hub_;
  Sessions& sessions_;
  http::HttpMetrics& metrics_;
  // Failed join codes per address, oldest first (guessing in bulk is refused for a
  // while). Each is also stored (core::Attempt, scope kJoinFailedScope) before its
  // answer goes, and read back by load().
  std::mutex join_mu_;
  std::unordered_map<std::string, std::deque<core::Millis>> join_failures_;
  bool join_limited(const std::string& ip, core::Millis now);
  // Counts a failure made at `at` in memory (the store is the caller's business).
  void join_failed(const std::string& ip, core::Millis at);
  federation::Signer* signer_ = nullptr;
  federation::Verifier* verifier_ = nullptr;
  const core::Clock* clock_;
  std::vector<std::string> published_keys_;
};

// The scope of the failed join codes ApiService stores: key and address = the
// client's address.
inline constexpr const char* kJoinFailedScope = "join_failed";

// Maps an error to its HTTP status (one place for the whole api).
int http_status(core::Errc code);
http::Response error_response(const core::Error& e);

}  // namespace baton::api
