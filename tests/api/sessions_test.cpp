// api::Sessions' limits on failed sign-ins, against a real SqliteStore: every
// attempt is stored before it is answered, each write forgets what the rule no
// longer looks at, and a new Sessions on the same store (a restart) counts what
// its predecessor stored.
#include "baton/api/sessions.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>

#include "baton/federation/password.hpp"
#include "baton/federation/tokens.hpp"
#include "baton/storage/sqlite_store.hpp"

namespace baton::api {
namespace {

namespace net = boost::asio;
using core::Errc;

constexpr auto kDeadline = std::chrono::seconds(30);
constexpr const char* kPassword = "correct horse";

// A clock the test moves by hand, safe to read from the blocking pool's threads.
class SteppedClock final : public core::Clock {
 public:
  core::Millis now() const override { return now_.load(); }
  void advance(core::Millis ms) { now_.fetch_add(ms); }

 private:
  std::atomic<core::Millis> now_{1'800'000'000'000};
};

class SessionLimits : public ::testing::Test {
 protected:
  SessionLimits() {
    char tmpl[] = "/tmp/baton-sessions-test-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    auto hash = federation::hash_password(kPassword);
    if (!hash) throw std::runtime_error(hash.error().message);
    for (const char* name : {"alice", "carol"}) {
      AgentAccount a;
      a.profile.name = name;
      a.profile.display_name = name;
      a.profile.queues = {"General"};
      a.password_hash = *hash;
      settings_.agents.push_back(a);
    }
    open_store();
  }
  ~SessionLimits() override {
    blocking_.join();
    sessions_.reset();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void open_store() {
    auto s = storage::SqliteStore::open((dir_ / "baton.db").string());
    if (!s) throw std::runtime_error(s.error().message);
    store_ = std::move(*s);
  }

  // A new Sessions on the same store, loaded: what a restart builds.
  Sessions& restart() {
    sessions_ = std::make_unique<Sessions>(settings_, *store_, clock_, random_, blocking_);
    auto st = sessions_->load();
    if (!st) throw std::runtime_error(st.error().message);
    return *sessions_;
  }

  // The answer to one sign-in, waited for with a deadline.
  core::Result<SignedIn> sign_in(const std::string& name, const std::string& password, const std::string& ip) {
    auto answer = std::make_shared<std::promise<core::Result<SignedIn>>>();
    auto f = answer->get_future();
    sessions_->sign_in(name, password, ip, [answer](core::Result<SignedIn> r) { answer->set_value(std::move(r)); });
    if (f.wait_for(kDeadline) != std::future_status::ready) throw std::runtime_error("sign-in not answered");
    return f.get();
  }

  Errc refusal(const std::string& name, const std::string& password, const std::string& ip) {
    auto r = sign_in(name, password, ip);
    if (r) throw std::runtime_error("signed in; a refusal was expected");
    return r.error().code;
  }

  std::vector<core::Attempt> stored(const char* scope) {
    auto r = store_->attempts(scope, 0);
    if (!r) throw std::runtime_error(r.error().message);
    return *r;
  }

  std::filesystem::path dir_;
  Settings settings_;
  SteppedClock clock_;
  federation::SodiumRandom random_;
  net::thread_pool blocking_{2};
  std::unique_ptr<storage::SqliteStore> store_;
  std::unique_ptr<Sessions> sessions_;
};

TEST_F(SessionLimits, EachAttemptIsStoredBeforeItIsAnswered) {
  restart();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(refusal("alice", "guess", "10.0.0.2"), Errc::unauthorized);
    // No flush: the answer came after the commit.
    auto failed = stored(kSignInFailedScope);
    ASSERT_EQ(failed.size(), static_cast<std::size_t>(i + 1));
    EXPECT_EQ(failed.back().key, "alice");
    EXPECT_EQ(failed.back().address, "10.0.0.2");
    EXPECT_EQ(failed.back().at, clock_.now());
  }
  ASSERT_TRUE(sign_in("carol", kPassword, "10.0.0.3").ok());
  auto ok = stored(kSignInOkScope);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].key, "carol");
  EXPECT_EQ(ok[0].address, "10.0.0.3");
}

TEST_F(SessionLimits, WhatIsTypedAsAnUnknownNameIsNotStored) {
  restart();
  ASSERT_EQ(refusal("my secret password", "x", "10.0.0.2"), Errc::unauthorized);
  auto failed = stored(kSignInFailedScope);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].key, "");
  EXPECT_EQ(failed[0].address, "10.0.0.2");
}

TEST_F(SessionLimits, AnAddressOutOfGuessesIsRefusedByTheNextInstanceUntilTheWindowHasPassed) {
  restart();
  for (int i = 0; i < settings_.login_failures_per_window; ++i)
    ASSERT_EQ(refusal(i % 2 ? "alice" : "nobody", "guess", "10.0.0.2"), Errc::unauthorized) << i;
  ASSERT_EQ(refusal("carol", kPassword, "10.0.0.2"), Errc::rate_limited);
  sessions_.reset();  // the store closed and opened again, as by a restart
  store_.reset();
  open_store();
  clock_.advance(settings_.login_window_ms - 1);
  restart();
  EXPECT_EQ(refusal("carol", kPassword, "10.0.0.2"), Errc::rate_limited);
  EXPECT_TRUE(sign_in("carol", kPassword, "10.0.0.3").ok());
  clock_.advance(1);
  EXPECT_TRUE(sign_in("carol", kPassword, "10.0.0.2").ok());
}

TEST_F(SessionLimits, AttemptsOlderThanTheirRuleLooksBackAreForgottenByTheNextWrite) {
  restart();
  ASSERT_EQ(refusal("alice", "guess", "10.0.0.2"), Errc::unauthorized);
  ASSERT_TRUE(sign_in("alice", kPassword, "10.0.0.3").ok());
  clock_.advance(settings_.login_window_ms + 1);
  ASSERT_EQ(refusal("alice", "guess", "10.0.0.2"), Errc::unauthorized);
  EXPECT_EQ(stored(kSignInFailedScope).size(), 1u);
  EXPECT_EQ(stored(kSignInOkScope).size(), 1u);  // a session's lifetime is longer
  clock_.advance(settings_.session_ttl_ms);
  ASSERT_TRUE(sign_in("alice", kPassword, "10.0.0.3").ok());
  auto ok = stored(kSignInOkScope);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].at, clock_.now());
}

TEST_F(SessionLimits, AStoreThatCannotRecordTheAttemptAnswersARightAndAWrongPasswordAlike) {
  restart();
  store_->fail_writes_for_test(1);
  auto wrong = sign_in("alice", "guess", "10.0.0.2");
  store_->fail_writes_for_test(1);
  auto right = sign_in("alice", kPassword, "10.0.0.2");
  ASSERT_FALSE(wrong.ok());
  ASSERT_FALSE(right.ok());
  EXPECT_EQ(wrong.error().code, Errc::unavailable);
  EXPECT_EQ(right.error().code, Errc::unavailable);
  EXPECT_EQ(wrong.error().message, right.error().message);
}

}  // namespace
}  // namespace baton::api
