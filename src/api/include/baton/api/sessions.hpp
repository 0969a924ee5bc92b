// Agent sign-in: password checks (off the network threads), session tokens kept
// hashed in the store and cached in memory, and a limit on failed attempts.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "baton/api/hub.hpp"
#include "baton/api/settings.hpp"
#include "baton/core/store.hpp"
#include "baton/http/message.hpp"

namespace baton::api {

// The scopes of the attempts Sessions stores. Failed: key = the agent's name (empty
// for a name that is no agent's: what was typed there may be a password), address
// = the client's address. Ok: key = the agent's name, address = where from.
inline constexpr const char* kSignInFailedScope = "sign_in_failed";
inline constexpr const char* kSignInOkScope = "sign_in_ok";

struct SignedIn {
  std::string token;  // give to the browser once; only its hash is kept
  Actor actor;
  core::Millis expires_at = 0;
};

class Sessions {
 public:
  // All references must outlive this object. Call load() before the first sign_in.
  Sessions(const Settings& settings, core::Store& store, core::Clock& clock, core::Random& random,
           boost::asio::thread_pool& blocking);

  // Rebuilds the sign-in limits from the attempts stored before a restart (those
  // still inside login_window_ms, and the successes inside session_ttl_ms), as if
  // they had just happened. Blocking (reads the store); call once, before serving.
  // Errors: whatever the store's read returned.
  core::Status load();

  // Checks the password on the blocking pool; `done` runs there or on a store thread.
  // Failed sign-ins are limited (docs/security.md, "Password guessing"): an address
  // with login_failures_per_window failures in the window is refused, whatever the
  // name; a name with that many is refused too, except from an address that signed
  // in to it successfully within the session lifetime. One address counts at most
  // login_account_failures_per_address times toward a name, so a flood from one
  // address cannot lock an agent out; nothing is locked for longer than the window.
  // Every failure and every success is stored (core::Attempt, scopes
  // kSignInFailedScope and kSignInOkScope) before `done` runs, so that a restart
  // does not reopen the guessing; if that write fails, `done` gets unavailable,
  // whether the password was right or not. A refusal (rate_limited) is not stored.
  void sign_in(const std::string& username, const std::string& password, const std::string& ip,
               std::function<void(core::Result<SignedIn>)> done);
  // The agent behind a token, from the cache or the store; `done` may run on the blocking pool.
  void resolve(const std::string& token, std::function<void(core::Result<Actor>)> done);
  // Deletes the session and closes every WebSocket that said hello with it.
  void sign_out(const std::string& token, std::function<void(core::Status)> done);
  // A WebSocket whose hello resolved `token`: signing that session out closes it
  // with 1008 "signed out". If it was signed out meanwhile, closes it now.
  // Thread-safe; holds only a weak reference.
  void attach_socket(const std::string& token, const std::shared_ptr<http::WsConnection>& conn);

 private:
  const AgentAccount* account(const std::string& name) const;
  // REQUIRES: mu_ held.
  void prune(std::deque<std::pair<core::Millis, std::string>>& times, core::Millis now) const;
  bool refused(const std::string& username, const std::string& ip, core::Millis now);
  // Count a failure or a success made at `at` in memory (the store is the caller's
  // business). Take mu_.
  void failed(const std::string& username, bool known_name, const std::string& ip, core::Millis at);
  void succeeded(const std::string& username, const std::string& ip, core::Millis at);
  Actor actor_for(const AgentAccount& a) const;

  const Settings& settings_;
  core::Store& store_;
  core::Clock& clock_;
  core::Random& random_;
  boost::asio::thread_pool& blocking_;
  std::string dummy_hash_;  // verified against for unknown names, so timing does not tell

  std::mutex mu_;
  std::unordered_map<std::string, core::AgentSession> cache_;  // by token hash
  // Failed sign-ins in the window, oldest first, with the address they came from.
  std::unordered_map<std::string, std::deque<std::pair<core::Millis, std::string>>> ip_failures_;
  std::unordered_map<std::string, std::deque<std::pair<core::Millis, std::string>>> name_failures_;
  // "name|address" -> last successful sign-in from there.
  std::unordered_map<std::string, core::Millis> known_addresses_;
  // Open sockets by session token hash.
  std::unordered_map<std::string, std::vector<std::weak_ptr<http::WsConnection>>> sockets_;
  std::size_t socket_attaches_ = 0;
  // Sessions signed out recently (token hash -> when): a store read racing the
  // deletion must not bring one back into the cache.
  std::unordered_map<std::string, core::Millis> signed_out_;
};

}  // namespace baton::api
