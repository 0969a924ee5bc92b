// The disk fills up, or another process holds the database locked (issue 6,
// "Faults"): each client gets a clear error instead of an acknowledgement, the
// server does not crash and keeps serving reads and other clients, nothing that was
// acknowledged is missing afterwards (also after kill -9 and a restart), and writes
// are accepted again once the disk has room or the lock is gone.
//
// A full disk is a real `baton` process (ChildServer) whose RLIMIT_FSIZE is lowered
// from outside with prlimit(2) (it ignores SIGXFSZ, so writes fail with EFBIG as on
// a full disk); the lock is the test opening the same SQLite file and holding
// BEGIN EXCLUSIVE past the server's busy timeout (5 s).
#include <gtest/gtest.h>

#include <set>
#include <sqlite3.h>

#include "harness.hpp"

namespace baton::testing {
namespace {

namespace json = boost::json;

// Sends a message and returns the reply to it: its ack, or an error.
json::object send_message(WsClient& ws, const std::string& conversation, const std::string& cid, const std::string& text,
                          std::chrono::milliseconds deadline = kDeadline) {
  json::object m{{"type", "message"}, {"client_id", cid}, {"text", text}};
  if (!conversation.empty()) m["conversation"] = conversation;
  ws.send(m);
  return ws.expect(
      [&](const json::object& o) {
        return (str(o, "type") == "ack" || str(o, "type") == "error") && str(o, "client_id") == cid;
      },
      deadline);
}

// client_id -> how many times stored, over the conversation's whole log.
std::map<std::string, int> stored(std::uint16_t port, const Visitor& v) {
  auto r = http(port, "GET", "/api/conversations/" + v.conversation + "/events?limit=500", {},
                {{"Authorization", "Bearer " + v.token}});
  if (r.status != 200) throw std::runtime_error("events: " + r.body);
  std::map<std::string, int> out;
  auto body = r.json();  // kept: a range-for over r.json().at(...) would read a destroyed temporary
  for (const auto& e : body.at("events").as_array())
    if (!str(e.as_object(), "client_id").empty()) ++out[str(e.as_object(), "client_id")];
  return out;
}

app::Config single(const std::string& dir, std::uint16_t port) {
  app::Config c = test_config(dir + "/data");
  c.listen = "127.0.0.1:" + std::to_string(port);
  c.public_url = "http://127.0.0.1:" + std::to_string(port);
  auto st = app::validate_config(c);
  if (!st) throw std::runtime_error(st.error().message);
  return c;
}

TEST(StorageFaults, FullDiskGivesClearErrorsAndNothingAcknowledgedIsLost) {
  TempDir dir;
  std::unique_ptr<ChildServer> server;
  for (int attempt = 0; !server; ++attempt) {
    try {
      server = std::make_unique<ChildServer>(single(dir.path(), free_port()), dir.path() + "/run" + std::to_string(attempt));
      server->start();
    } catch (const std::exception&) {
      server.reset();
      if (attempt >= 4) throw;
    }
  }
  std::uint16_t port = server->port();
  Visitor v = start_chat(port, "before the disk fills");
  std::string alice_token = sign_in(port, "alice");
  auto alice = std::make_unique<WsClient>(port);
  alice->hello_agent(alice_token);
  auto visitor = std::make_unique<WsClient>(port);
  visitor->hello_visitor(v);
  visitor->expect([](const json::object& m) { return is_event(m, "joined"); });
  std::set<std::string> acked{"first"}, refused;
  auto track = [&](const json::object& reply) {
    (str(reply, "type") == "ack" ? acked : refused).insert(str(reply, "client_id"));
    return str(reply, "type");
  };
  EXPECT_EQ(track(send_message(*visitor, {}, "v1", "one")), "ack");
  EXPECT_EQ(track(send_message(*alice, v.conversation, "a1", "two")), "ack");

  // The disk is full: no write can extend any file.
  server->set_file_size_limit(1);
  auto v_err = send_message(*visitor, {}, "v2", "lost to the full disk");
  EXPECT_EQ(track(v_err), "error");
  EXPECT_EQ(str(v_err, "code"), "unavailable") << json::serialize(v_err);
  EXPECT_FALSE(str(v_err, "message").empty());
  auto a_err = send_message(*alice, v.conversation, "a2", "also lost");
  EXPECT_EQ(track(a_err), "error");
  EXPECT_EQ(str(a_err, "code"), "unavailable") << json::serialize(a_err);
  // A new conversation cannot be stored either: a clear HTTP error, not a crash.
  auto created = post_json(port, "/api/visitor/conversations",
                           {{"site", "web"}, {"name", "Late Visitor"}, {"text", "hi"}, {"client_id", "x"}});
  EXPECT_EQ(created.status, 503) << created.body;
  EXPECT_NE(created.body.find("\"unavailable\""), std::string::npos) << created.body;

  // Reads and everyone else carry on meanwhile.
  EXPECT_EQ(http(port, "GET", "/healthz").status, 200);
  auto now_stored = stored(port, v);
  for (const auto& cid : acked) EXPECT_EQ(now_stored[cid], 1) << cid;
  WsClient other(port);
  other.send(json::object{{"type", "ping"}});
  other.expect_type("pong");
  visitor->send(json::object{{"type", "ping"}});
  visitor->expect_type("pong");

  // Room again: the same clients write again.
  server->set_file_size_limit(0);
  EXPECT_EQ(track(send_message(*visitor, {}, "v3", "the disk has room again")), "ack");
  EXPECT_EQ(track(send_message(*alice, v.conversation, "a3", "so it does")), "ack");
  // A resend of a refused message (same client_id) is stored now, once.
  EXPECT_EQ(track(send_message(*visitor, {}, "v2", "lost to the full disk")), "ack");
  refused.erase("v2");

  // Kill -9 and restart: everything acknowledged is there, once; nothing refused is.
  alice.reset();
  visitor.reset();
  server->kill9();
  server->start();
  auto after = stored(port, v);
  for (const auto& cid : acked) EXPECT_EQ(after[cid], 1) << "acknowledged " << cid;
  for (const auto& cid : refused) EXPECT_EQ(after[cid], 0) << "refused " << cid;
}

// Holds a write lock on the database file from outside the server.
class ForeignLock {
 public:
  explicit ForeignLock(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("cannot open " + path);
    char* err = nullptr;
    if (sqlite3_exec(db_, "BEGIN EXCLUSIVE", nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "?";
      sqlite3_free(err);
      throw std::runtime_error("BEGIN EXCLUSIVE: " + msg);
    }
  }
  ~ForeignLock() { release(); }
  void release() {
    if (!db_) return;
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
    db_ = nullptr;
  }

 private:
  sqlite3* db_ = nullptr;
};

TEST(StorageFaults, LockedDatabaseGivesClearErrorsThenWritesAgain) {
  TempDir dir;
  TestServer server(test_config(dir.path()));
  std::uint16_t port = server.port();
  Visitor v = start_chat(port, "before the lock");
  WsClient alice(port);
  alice.hello_agent(sign_in(port, "alice"));
  WsClient visitor(port);
  visitor.hello_visitor(v);
  visitor.expect([](const json::object& m) { return is_event(m, "joined"); });
  ASSERT_EQ(str(send_message(visitor, {}, "v1", "one"), "type"), "ack");

  auto lock = std::make_unique<ForeignLock>(dir.path() + "/baton.db");
  // The server waits out its busy timeout, then refuses: no acknowledgement.
  auto v_err = send_message(visitor, {}, "v2", "while locked", std::chrono::seconds(30));
  EXPECT_EQ(str(v_err, "type"), "error") << json::serialize(v_err);
  EXPECT_EQ(str(v_err, "code"), "unavailable");
  // Reads go on (WAL readers are not blocked by a writer), and so does the server.
  auto events = http(port, "GET", "/api/conversations/" + v.conversation + "/events", {},
                     {{"Authorization", "Bearer " + v.token}});
  EXPECT_EQ(events.status, 200);
  EXPECT_EQ(http(port, "GET", "/healthz").status, 200);

  lock->release();
  EXPECT_EQ(str(send_message(visitor, {}, "v3", "after the lock"), "type"), "ack");
  EXPECT_EQ(str(send_message(alice, v.conversation, "a1", "welcome back"), "type"), "ack");
  auto after = stored(port, v);
  EXPECT_EQ(after["first"], 1);
  EXPECT_EQ(after["v1"], 1);
  EXPECT_EQ(after["v2"], 0);
  EXPECT_EQ(after["v3"], 1);
  EXPECT_EQ(after["a1"], 1);
}

// The per-socket limit on messages awaiting their ack (docs/api.md: 64). While the
// store cannot commit, the messages past it are refused with rate_limited and never
// stored; the ones within it are each answered, once, when the store is back (an
// ack, or `unavailable` if the lock outlasted the busy timeout), and then the
// socket may send again.
TEST(StorageFaults, MessagesPastSixtyFourAwaitingTheirAckAreRefusedAndNeverStored) {
  TempDir dir;
  TestServer server(test_config(dir.path()));
  std::uint16_t port = server.port();
  Visitor v = start_chat(port, "before the lock");
  WsClient visitor(port);
  visitor.hello_visitor(v);
  ASSERT_EQ(str(send_message(visitor, {}, "first-ack", "stored"), "type"), "ack");

  auto lock = std::make_unique<ForeignLock>(dir.path() + "/baton.db");
  constexpr int kSent = 70;
  constexpr int kLimit = 64;
  for (int i = 0; i < kSent; ++i)
    visitor.send(json::object{{"type", "message"}, {"client_id", "m" + std::to_string(i)},
                              {"text", "burst " + std::to_string(i)}});
  auto reply_to = [&](const std::string& cid) {
    return visitor.expect(
        [&](const json::object& o) {
          return (str(o, "type") == "ack" || str(o, "type") == "error") && str(o, "client_id") == cid;
        },
        std::chrono::seconds(30));
  };
  // The ones past the limit are refused while the first 64 still wait on the store.
  for (int i = kLimit; i < kSent; ++i) {
    auto r = reply_to("m" + std::to_string(i));
    EXPECT_EQ(str(r, "type"), "error") << json::serialize(r);
    EXPECT_EQ(str(r, "code"), "rate_limited") << json::serialize(r);
  }
  lock->release();
  std::set<std::string> acked;
  for (int i = 0; i < kLimit; ++i) {
    const std::string cid = "m" + std::to_string(i);
    auto r = reply_to(cid);
    if (str(r, "type") == "ack") {
      acked.insert(cid);
    } else {
      EXPECT_EQ(str(r, "code"), "unavailable") << json::serialize(r);
    }
  }
  // Each answered once: nothing more arrives for them.
  for (const auto& m : visitor.drain()) {
    const std::string type = str(m, "type");
    EXPECT_FALSE(type == "ack" || type == "error") << json::serialize(m);
  }
  EXPECT_EQ(str(send_message(visitor, {}, "after", "room again"), "type"), "ack");

  auto log = stored(port, v);
  for (int i = 0; i < kSent; ++i) {
    const std::string cid = "m" + std::to_string(i);
    EXPECT_EQ(log[cid], acked.count(cid) ? 1 : 0) << cid;
  }
  EXPECT_EQ(log["after"], 1);
}

}  // namespace
}  // namespace baton::testing
