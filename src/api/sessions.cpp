#include "baton/api/sessions.hpp"

#include <boost/asio/post.hpp>

#include "baton/federation/password.hpp"
#include "baton/federation/tokens.hpp"

namespace baton::api {

namespace net = boost::asio;
using core::Errc;
using core::Error;

namespace {
constexpr std::size_t kMaxCachedSessions = 10'000;
// Longer than any store read takes, so a read racing a sign-out cannot revive it.
constexpr core::Millis kSignedOutMemoryMs = 10 * 60'000;
// The same words whether the password was right or not: a store that fails must
// not tell a guesser which guess was good.
constexpr const char* kNotStored = "could not store the sign-in; try again";
}

Sessions::Sessions(const Settings& settings, core::Store& store, core::Clock& clock, core::Random& random,
                   net::thread_pool& blocking)
    : settings_(settings), store_(store), clock_(clock), random_(random), blocking_(blocking) {
  auto h = federation::hash_password(random_.token(24));
  if (h) dummy_hash_ = *h;
}

core::Status Sessions::load() {
  core::Millis now = clock_.now();
  auto failures = store_.attempts(kSignInFailedScope, now - settings_.login_window_ms);
  if (!failures) return failures.error();
  auto successes = store_.attempts(kSignInOkScope, now - settings_.session_ttl_ms);
  if (!successes) return successes.error();
  // Replayed oldest first through the same code that counted them, so that the cap
  // on one address's failures toward a name (and the bounds on memory) apply as
  // they did then. A name that is no longer an agent's counts for its address only.
  for (const auto& a : *failures) failed(a.key, account(a.key) != nullptr, a.address, a.at);
  for (const auto& a : *successes) succeeded(a.key, a.address, a.at);
  return core::ok_status();
}

const AgentAccount* Sessions::account(const std::string& name) const {
  for (const auto& a : settings_.agents)
    if (a.profile.name == name) return &a;
  return nullptr;
}

Actor Sessions::actor_for(const AgentAccount& a) const {
  Actor actor;
  actor.kind = core::AuthorKind::agent;
  actor.agent = a.profile.name;
  actor.display_name = a.profile.display_name;
  return actor;
}

void Sessions::prune(std::deque<std::pair<core::Millis, std::string>>& times, core::Millis now) const {
  while (!times.empty() && times.front().first <= now - settings_.login_window_ms) times.pop_front();
}

bool Sessions::refused(const std::string& username, const std::string& ip, core::Millis now) {
  std::lock_guard lock(mu_);
  const auto limit = static_cast<std::size_t>(settings_.login_failures_per_window);
  if (auto it = ip_failures_.find(ip); it != ip_failures_.end()) {
    prune(it->second, now);
    if (it->second.empty()) ip_failures_.erase(it);
    else if (it->second.size() >= limit) return true;
  }
  auto it = name_failures_.find(username);
  if (it == name_failures_.end()) return false;
  prune(it->second, now);
  if (it->second.empty()) {
    name_failures_.erase(it);
    return false;
  }
  if (it->second.size() < limit) return false;
  // Someone is guessing this agent's password from several addresses. The agent
  // still gets in from where it signed in before.
  auto known = known_addresses_.find(username + "|" + ip);
  return known == known_addresses_.end() || known->second <= now - settings_.session_ttl_ms;
}

void Sessions::failed(const std::string& username, bool known_name, const std::string& ip, core::Millis at) {
  std::lock_guard lock(mu_);
  // Bounded: an attacker spraying addresses or names cannot grow these without end.
  if (ip_failures_.size() > 100'000) ip_failures_.clear();
  if (name_failures_.size() > 100'000) name_failures_.clear();
  ip_failures_[ip].emplace_back(at, std::string());
  if (!known_name) return;
  auto& times = name_failures_[username];
  prune(times, at);
  int from_here = 0;
  for (const auto& [when, from] : times)
    if (from == ip) ++from_here;
  if (from_here < settings_.login_account_failures_per_address) times.emplace_back(at, ip);
}

void Sessions::succeeded(const std::string& username, const std::string& ip, core::Millis at) {
  std::lock_guard lock(mu_);
  if (known_addresses_.size() > 100'000) known_addresses_.clear();
  known_addresses_[username + "|" + ip] = at;
}

void Sessions::sign_in(const std::string& username, const std::string& password, const std::string& ip,
                       std::function<void(core::Result<SignedIn>)> done) {
  net::post(blocking_, [this, username, password, ip, done = std::move(done)] {
    core::Millis now = clock_.now();
    if (refused(username, ip, now)) {
      return done(Error{Errc::rate_limited, "too many failed sign-ins; try again in a few minutes"});
    }
    const AgentAccount* a = account(username);
    bool good = federation::verify_password(a ? a->password_hash : dummy_hash_, password) && a;
    if (!good) {
      // Counted in memory at once, so that guesses racing this one are limited too;
      // answered once stored, so that a restart after the answer still counts it.
      failed(username, a != nullptr, ip, now);
      core::Write w;
      w.attempt = core::Attempt{kSignInFailedScope, a ? a->profile.name : std::string(), ip, now};
      w.forget_scope = kSignInFailedScope;
      w.forget_attempts_before = now - settings_.login_window_ms;
      store_.write(std::move(w), [done](core::Result<core::WriteResult> r) {
        if (!r) return done(Error{Errc::unavailable, kNotStored});
        done(Error{Errc::unauthorized, "wrong username or password"});
      });
      return;
    }
    SignedIn out;
    out.token = random_.token(32);
    out.actor = actor_for(*a);
    out.expires_at = now + settings_.session_ttl_ms;
    core::AgentSession s{federation::hash_token(out.token), a->profile.name, now, out.expires_at};
    {
      std::lock_guard lock(mu_);
      if (cache_.size() >= kMaxCachedSessions) cache_.clear();
      cache_[s.token_hash] = s;
    }
    // The session and the success that exempts this address from a lock on the
    // name are stored together; the exemption holds only once stored.
    core::Write w;
    w.put_session = s;
    w.attempt = core::Attempt{kSignInOkScope, a->profile.name, ip, now};
    w.forget_scope = kSignInOkScope;
    w.forget_attempts_before = now - settings_.session_ttl_ms;
    store_.write(std::move(w), [this, name = a->profile.name, ip, now, out = std::move(out),
                                done](core::Result<core::WriteResult> r) mutable {
      if (!r) return done(Error{Errc::unavailable, kNotStored});
      succeeded(name, ip, now);
      done(std::move(out));
    });
  });
}

void Sessions::resolve(const std::string& token, std::function<void(core::Result<Actor>)> done) {
  if (token.empty() || token.size() > 128) return done(Error{Errc::unauthorized, "sign in first"});
  std::string hash = federation::hash_token(token);
  auto finish = [this, done](const core::AgentSession& s) {
    if (s.expires_at <= clock_.now()) return done(Error{Errc::unauthorized, "session expired; sign in again"});
    const AgentAccount* a = account(s.agent);
    if (!a) return done(Error{Errc::unauthorized, "this agent no longer exists"});
    done(actor_for(*a));
  };
  std::optional<core::AgentSession> cached;
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(hash);
    if (it != cache_.end()) cached = it->second;
  }
  if (cached) return finish(*cached);  // outside the lock: `done` may call back in
  net::post(blocking_, [this, hash, finish, done] {
    auto r = store_.session(hash);
    if (!r) return done(Error{Errc::unavailable, r.error().message});
    if (!*r) return done(Error{Errc::unauthorized, "sign in first"});
    {
      std::lock_guard lock(mu_);
      if (signed_out_.contains(hash)) return done(Error{Errc::unauthorized, "sign in first"});
      if (cache_.size() >= kMaxCachedSessions) cache_.clear();
      cache_[hash] = **r;
    }
    finish(**r);
  });
}

void Sessions::sign_out(const std::string& token, std::function<void(core::Status)> done) {
  std::string hash = federation::hash_token(token);
  std::vector<std::weak_ptr<http::WsConnection>> open;
  {
    std::lock_guard lock(mu_);
    cache_.erase(hash);
    core::Millis now = clock_.now();
    std::erase_if(signed_out_, [now](const auto& e) { return e.second < now - kSignedOutMemoryMs; });
    signed_out_[hash] = now;
    if (auto it = sockets_.find(hash); it != sockets_.end()) {
      open = std::move(it->second);
      sockets_.erase(it);
    }
  }
  // A signed-out session must stop receiving at once, not when its sockets close.
  for (auto& w : open)
    if (auto conn = w.lock()) conn->close(1008, "signed out");
  core::Write w;
  w.delete_session = hash;
  store_.write(std::move(w), [done](core::Result<core::WriteResult> r) {
    if (!r) return done(r.error());
    done(core::ok_status());
  });
}

void Sessions::attach_socket(const std::string& token, const std::shared_ptr<http::WsConnection>& conn) {
  if (!conn) return;
  std::string hash = federation::hash_token(token);
  {
    std::lock_guard lock(mu_);
    if (!signed_out_.contains(hash)) {
      auto& list = sockets_[hash];
      std::erase_if(list, [](const auto& w) { return w.expired(); });
      list.push_back(conn);
      // Now and then, forget the sockets that closed since.
      if (++socket_attaches_ % 1024 == 0) {
        for (auto it = sockets_.begin(); it != sockets_.end();) {
          std::erase_if(it->second, [](const auto& w) { return w.expired(); });
          it = it->second.empty() ? sockets_.erase(it) : std::next(it);
        }
      }
      return;
    }
  }
  conn->close(1008, "signed out");
}

}  // namespace baton::api
