#include "api/sessions.hpp"

#include <boost/asio/post.hpp>

#include "http/password.hpp"
#include "http/tokens.hpp"

namespace baton::api {

namespace net = boost::asio;
using core::Errc;
using core::Error;

namespace {
constexpr std::size_t kMaxCachedSessions = 10'000;
}

Sessions::Sessions(const Settings& settings, core::Store& store, core::Clock& clock, core::Random& random,
                   net::thread_pool& blocking)
    : settings_(settings), store_(store), clock_(clock), random_(random), blocking_(blocking) {
  auto h = http::hash_password(random_.token(24));
  if (h) dummy_hash_ = *h;
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

bool Sessions::limited(const std::string& key, core::Millis now) {
  std::lock_guard lock(mu_);
  auto it = failures_.find(key);
  if (it == failures_.end()) return false;
  auto& times = it->second;
  while (!times.empty() && times.front() <= now - settings_.login_window_ms) times.pop_front();
  if (times.empty()) {
    failures_.erase(it);
    return false;
  }
  return static_cast<int>(times.size()) >= settings_.login_failures_per_window;
}

void Sessions::failed(const std::string& key, core::Millis now) {
  std::lock_guard lock(mu_);
  // Bounded: an attacker spraying addresses cannot grow this without end.
  if (failures_.size() > 100'000) failures_.clear();
  failures_[key].push_back(now);
}

void Sessions::sign_in(const std::string& username, const std::string& password, const std::string& ip,
                       std::function<void(core::Result<SignedIn>)> done) {
  net::post(blocking_, [this, username, password, ip, done = std::move(done)] {
    core::Millis now = clock_.now();
    std::string ip_key = "ip:" + ip;
    std::string user_key = "user:" + username;
    if (limited(ip_key, now) || limited(user_key, now)) {
      return done(Error{Errc::rate_limited, "too many failed sign-ins; try again in a few minutes"});
    }
    const AgentAccount* a = account(username);
    bool good = http::verify_password(a ? a->password_hash : dummy_hash_, password) && a;
    if (!good) {
      failed(ip_key, now);
      if (a) failed(user_key, now);
      return done(Error{Errc::unauthorized, "wrong username or password"});
    }
    SignedIn out;
    out.token = random_.token(32);
    out.actor = actor_for(*a);
    out.expires_at = now + settings_.session_ttl_ms;
    core::AgentSession s{http::hash_token(out.token), a->profile.name, now, out.expires_at};
    {
      std::lock_guard lock(mu_);
      if (cache_.size() >= kMaxCachedSessions) cache_.clear();
      cache_[s.token_hash] = s;
    }
    core::Write w;
    w.put_session = s;
    store_.write(std::move(w), [out = std::move(out), done](core::Result<core::WriteResult> r) mutable {
      if (!r) return done(Error{Errc::unavailable, "could not store the session; try again"});
      done(std::move(out));
    });
  });
}

void Sessions::resolve(const std::string& token, std::function<void(core::Result<Actor>)> done) {
  if (token.empty() || token.size() > 128) return done(Error{Errc::unauthorized, "sign in first"});
  std::string hash = http::hash_token(token);
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
      if (cache_.size() >= kMaxCachedSessions) cache_.clear();
      cache_[hash] = **r;
    }
    finish(**r);
  });
}

void Sessions::sign_out(const std::string& token, std::function<void(core::Status)> done) {
  std::string hash = http::hash_token(token);
  {
    std::lock_guard lock(mu_);
    cache_.erase(hash);
  }
  core::Write w;
  w.delete_session = hash;
  store_.write(std::move(w), [done](core::Result<core::WriteResult> r) {
    if (!r) return done(r.error());
    done(core::ok_status());
  });
}

}  // namespace baton::api
