#include "baton/storage/sqlite_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace baton::storage {
namespace {

using core::AgentSession;
using core::AuthorKind;
using core::Conversation;
using core::ConversationState;
using core::Errc;
using core::Error;
using core::Event;
using core::EventKind;
using core::ListQuery;
using core::Result;
using core::Write;
using core::WriteResult;

constexpr auto kDeadline = std::chrono::seconds(30);

// A fresh folder under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/baton-store-test-XXXXXX";
    const char* dir = mkdtemp(tmpl);
    if (dir == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = dir;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

std::unique_ptr<SqliteStore> open_store(const std::string& path, SqliteOptions opts = {}) {
  auto s = SqliteStore::open(path, opts);
  if (!s) throw std::runtime_error("open failed: " + s.error().message);
  return std::move(s).value();
}

Conversation make_conversation(const std::string& id, core::Millis updated_at,
                               ConversationState state = ConversationState::active,
                               const std::string& agent = "ana",
                               const std::string& queue = "sales") {
  Conversation c;
  c.id = id;
  c.site = "example.org";
  c.queue = queue;
  c.state = state;
  c.agent = agent;
  c.visitor.name = "Vera";
  c.visitor.email = "vera@example.org";
  c.visitor.page = "https://example.org/pricing";
  c.visitor.user_agent = "Mozilla/5.0";
  c.visitor.origin = "https://example.org";
  c.visitor_token_hash = "ab12cd34";
  c.created_at = 1000;
  c.waiting_since = 1001;
  c.updated_at = updated_at;
  c.closed_at = core::is_terminal(state) ? updated_at : 0;
  c.close_reason = core::is_terminal(state) ? "done" : "";
  c.last_seq = 0;
  c.offline = false;
  c.last_message = "";
  return c;
}

Event make_event(const std::string& conversation_id, std::int64_t seq,
                 const std::string& client_id = "", EventKind kind = EventKind::message,
                 AuthorKind author_kind = AuthorKind::visitor) {
  Event e;
  e.conversation_id = conversation_id;
  e.seq = seq;
  e.kind = kind;
  e.author_kind = author_kind;
  e.author_id = author_kind == AuthorKind::agent ? "ana" : "";
  e.author_name = author_kind == AuthorKind::agent ? "Ana" : "Vera";
  e.client_id = client_id;
  e.text = "message " + std::to_string(seq);
  e.at = 2000 + seq;
  return e;
}

Write conversation_write(const Conversation& c) {
  Write w;
  w.conversation = c;
  return w;
}

Write event_write(const Event& e) {
  Write w;
  w.event = e;
  return w;
}

// Submits `w` and returns a future for its result.
std::future<Result<WriteResult>> submit(core::Store& store, Write w) {
  auto p = std::make_shared<std::promise<Result<WriteResult>>>();
  auto f = p->get_future();
  store.write(std::move(w), [p](Result<WriteResult> r) { p->set_value(std::move(r)); });
  return f;
}

Result<WriteResult> wait(std::future<Result<WriteResult>>& f) {
  if (f.wait_for(kDeadline) != std::future_status::ready) {
    return Error{Errc::internal, "write did not complete before the deadline"};
  }
  return f.get();
}

Result<WriteResult> write_and_wait(core::Store& store, Write w) {
  auto f = submit(store, std::move(w));
  return wait(f);
}

std::vector<std::string> ids(const std::vector<Conversation>& cs) {
  std::vector<std::string> out;
  for (const auto& c : cs) out.push_back(c.id);
  return out;
}

// Holds the writer thread inside a callback until release(), so that the writes
// submitted meanwhile are committed together, in the next batch.
class WriterGate {
 public:
  explicit WriterGate(core::Store& store) {
    auto released = released_.get_future().share();
    auto entered = std::make_shared<std::promise<void>>();
    auto entered_future = entered->get_future();
    store.write(Write{}, [entered, released](Result<WriteResult>) {
      entered->set_value();
      released.wait();
    });
    if (entered_future.wait_for(kDeadline) != std::future_status::ready) {
      throw std::runtime_error("writer never reached the gate");
    }
  }
  ~WriterGate() { release(); }
  WriterGate(const WriterGate&) = delete;
  WriterGate& operator=(const WriterGate&) = delete;
  void release() {
    if (!released_set_) {
      released_set_ = true;
      released_.set_value();
    }
  }

 private:
  std::promise<void> released_;
  bool released_set_ = false;
};

void expect_same(const Conversation& a, const Conversation& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.site, b.site);
  EXPECT_EQ(a.queue, b.queue);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.agent, b.agent);
  EXPECT_EQ(a.visitor.name, b.visitor.name);
  EXPECT_EQ(a.visitor.email, b.visitor.email);
  EXPECT_EQ(a.visitor.page, b.visitor.page);
  EXPECT_EQ(a.visitor.user_agent, b.visitor.user_agent);
  EXPECT_EQ(a.visitor.origin, b.visitor.origin);
  EXPECT_EQ(a.visitor_token_hash, b.visitor_token_hash);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.waiting_since, b.waiting_since);
  EXPECT_EQ(a.updated_at, b.updated_at);
  EXPECT_EQ(a.closed_at, b.closed_at);
  EXPECT_EQ(a.close_reason, b.close_reason);
  EXPECT_EQ(a.last_seq, b.last_seq);
  EXPECT_EQ(a.offline, b.offline);
  EXPECT_EQ(a.last_message, b.last_message);
}

void expect_same(const Event& a, const Event& b) {
  EXPECT_EQ(a.conversation_id, b.conversation_id);
  EXPECT_EQ(a.seq, b.seq);
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.author_kind, b.author_kind);
  EXPECT_EQ(a.author_id, b.author_id);
  EXPECT_EQ(a.author_name, b.author_name);
  EXPECT_EQ(a.client_id, b.client_id);
  EXPECT_EQ(a.text, b.text);
  EXPECT_EQ(a.at, b.at);
}

TEST(SqliteStore, WrittenConversationAndEventsReadBackUnchanged) {
  TempDir dir;
  auto store = open_store(dir.file("baton.db"));

  Conversation c = make_conversation("c1", 5000);
  c.offline = true;
  c.last_seq = 2;
  c.last_message = "héllo ✓ with 'quotes'";
  Event e1 = make_event("c1", 1, "client-1");
  Event e2 = make_event("c1", 2, "", EventKind::joined, AuthorKind::agent);
  e2.text = std::string("embedded\0nul", 12);

  Write first;
  first.event = e1;
  first.conversation = c;
  auto r1 = write_and_wait(*store, first);
  ASSERT_TRUE(r1) << r1.error().message;
  EXPECT_EQ(r1->seq, 1);
  EXPECT_FALSE(r1->duplicate);
  auto r2 = write_and_wait(*store, event_write(e2));
  ASSERT_TRUE(r2) << r2.error().message;
  EXPECT_EQ(r2->seq, 2);

  auto got = store->conversation("c1");
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_TRUE(got->has_value());
  expect_same(**got, c);

  auto evs = store->events("c1", 0, 100, true);
  ASSERT_TRUE(evs) << evs.error().message;
  ASSERT_EQ(evs->size(), 2u);
  expect_same((*evs)[0], e1);
  expect_same((*evs)[1], e2);

  auto after = store->events("c1", 1, 100, true);
  ASSERT_TRUE(after);
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0].seq, 2);
  auto limited = store->events("c1", 0, 1, true);
  ASSERT_TRUE(limited);
  ASSERT_EQ(limited->size(), 1u);
  EXPECT_EQ((*limited)[0].seq, 1);

  auto missing = store->conversation("nope");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
}

TEST(SqliteStore, WriteWithoutEventReportsSeqZero) {
  TempDir dir;
  auto store = open_store(dir.file("baton.db"));
  auto r = write_and_wait(*store, conversation_write(make_conversation("c1", 10)));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->seq, 0);
  EXPECT_FALSE(r->duplicate);
}

TEST(SqliteStore, ConversationUpsertReplacesEveryField) {
  TempDir dir;
  auto store = open_store(dir.file("baton.db"));
  ASSERT_TRUE(write_and_wait(*store, conversation_write(make_conversation("c1", 10))));
  ASSERT_TRUE(write_and_wait(*store, event_write(make_event("c1", 1))));
  Conversation c = make_conversation("c1", 20, ConversationState::closed, "bo", "claims");
  c.last_seq = 1;
  c.last_message = "bye";
  ASSERT_TRUE(write_and_wait(*store, conversation_write(c)));
  auto got = store->conversation("c1");
  ASSERT_TRUE(got && got->has_value());
  expect_same(**got, c);
  // The upsert must not drop the conversation's events (no delete-and-insert).
  auto evs = store->events("c1", 0, 10, true);
  ASSERT_TRUE(evs);
  EXPECT_EQ(evs->size(), 1u);
}

TEST(SqliteStore, GroupCommitFromFourThreadsCompletesEveryWriteInSubmissionOrder) {
  TempDir dir;
  auto store = open_store(dir.file("baton.db"));
  constexpr int kThreads = 4;
  constexpr int kWrites = 500;

  // Callbacks run on the writer thread only; flush() publishes their effects.
  std::vector<std::vector<std::int64_t>> seen(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string cid = "thread-" + std::to_string(t);
      for (int i = 1; i <= kWrites; ++i) {
        Write w;
        w.event = make_event(cid, i, "m" + std::to_string(i));
        Conversation c = make_conversation(cid, 1000 + i);
        c.last_seq = i;
        w.conversation = c;
        store->write(std::move(w), [&, t](Result<WriteResult> r) {
          if (!r) {
            ++failures;
            return;
          }
          seen[t].push_back(r->seq);
        });
      }
    });
  }
  for (auto& th : threads) th.join();
  store->flush();

  EXPECT_EQ(failures.load(), 0);
  for (int t = 0; t < kThreads; ++t) {
    std::vector<std::int64_t> expected(kWrites);
    for (int i = 0; i < kWrites; ++i) expected[i] = i + 1;
    EXPECT_EQ(seen[t], expected) << "thread " << t;

    const std::string cid = "thread-" + std::to_string(t);
    auto evs = store->events(cid, 0, 10'000, true);
    ASSERT_TRUE(evs) << evs.error().message;
    EXPECT_EQ(evs->size(), static_cast<std::size_t>(kWrites));
    auto c = store->conversation(cid);
    ASSERT_TRUE(c && c->has_value());
    EXPECT_EQ((*c)->last_seq, kWrites);
  }
}

TEST(SqliteStore, FlushWaitsForEveryEarlierWrite) {
  TempDir dir;
  auto store = open_store(dir.file("baton.db"), SqliteOptions{.max_batch = 3});
  ASSERT_TRUE(write_and_wait(*store, conversation_write(make_conversation("c1", 10))));
  int done = 0;  // written on the writer thread, read after flush()
  for (int i = 1; i <= 50; ++i) {
    store->write(event_write(make_event("c1", i)), [&done](Result<WriteResult> r) {
      if (r) ++done;
    });
  }
  store->flush();
  EXPECT_EQ(done, 50);
}

TEST(SqliteStore, DuplicateClientIdReturnsStoredSeq) {
  TempDir dir;
  auto store = open_store(dir.file("baton.db"));
  Conversation c = make_conversation("c1", 10);
  c.last_message = "first";
  Write first;
  first.event = make_event("c1", 1, "retry-me");
  first.conversation = c;
  ASSERT_TRUE(write_and_wait(*store, first));

  // The retry comes with a new seq and a conversation update; both are ignored.
  Conversation moved = c;
  moved.updated_at = 99;
  moved.last_seq = 7;
  moved.last_message = "should not be stored";
  Write retry;
  retry.event = make_event("c1", 7, "retry-me");
  retry.conversation = moved;
  auto r = write_and_wait(*store, retry);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->seq, 1);
  EXPECT_TRUE(r->duplicate);

  auto evs = store->events("c1", 0, 100, true);
  ASSERT_TRUE(evs);
  ASSERT_EQ(evs->size(), 1u);
  EXPECT_EQ((*evs)[0].seq, 1);
  auto got = store->conversation("c1");
  ASSERT_TRUE(got && got->has_value());
  expect_same(**got, c);
}

TEST(SqliteStore, DuplicateStillAppliesItsSessionChanges) {
  TempDir dir;
  auto store = open_store(dir.file("baton.db"));
  ASSERT_TRUE(write_and_wait(*store, conversation_write(make_conversation("c1", 10))));
  ASSERT_TRUE(write_and_wait(*store, event_write(make_event("c1", 1, "x"))));
  Write w;
  w.event = make_event("c1", 2, "x");
  w.put_session = AgentSession{"hash", "ana", 1, 2};
  auto r = write_and_wait(*store, w);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->duplicate);
  auto s = store->session("hash");
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->has_value());
}

TEST(SqliteStore, SameClientIdFromAnotherAuthorOrEmptyIsNotDuplicate) {
  TempDir dir;
  auto store = open_store(dir.file("baton.db"));
  ASSERT_TRUE(write_and_wait(*store, conversation_write(make_conversation("c1", 10))));
  auto r1 = write_and_wait(*store, event_write(make_event("c1", 1, "same")));
  auto r2 = write_and_wait(
      *store, event_write(make_event("c1", 2, "same", EventKind::message, AuthorKind::agent)));
  auto r3 = write_and_wait(*store, event_write(make_event("c1", 3, "")));
  auto r4 = write_and_wait(*store, event_write(make_event("c1", 4, "")));
  for (auto* r : {&r1, &r2, &r3, &r4}) {
    ASSERT_TRUE(*r) << r->error().message;
    EXPECT_FALSE((*r)->duplicate);
  }
  EXPECT_EQ(r4->seq, 4);
  auto evs = store->events("c1", 0, 100, true);
  ASSERT_TRUE(evs);
  EXPECT_EQ(evs->size(), 4u);
}

TEST(SqliteStore, NotesAreExcludedUnlessAsked) {
  TempDir dir;
  auto store = open_store(dir.file("baton.db"));
  ASSERT_TRUE(write_and_wait(*store, conversation_write(make_conversation("c1", 10))));
  ASSERT_TRUE(write_and_wait(*store, event_write(make_event("c1", 1))));
  ASSERT_TRUE(write_and_wait(
      *store, event_write(make_event("c1", 2, "", EventKind::note, AuthorKind::agent))));
  ASSERT_TRUE(write_and_wait(*store, event_write(make_event("c1", 3))));

  auto visitor = store->events("c1", 0, 100, false);
  ASSERT_TRUE(visitor);
  ASSERT_EQ(visitor->size(), 2u);
  EXPECT_EQ((*visitor)[0].seq, 1);
  EXPECT_EQ((*visitor)[1].seq, 3);
  for (const auto& e : *visitor) EXPECT_TRUE(core::visible_to_visitor(e));

  auto agent = store->events("c1", 0, 100, true);
  ASSERT_TRUE(agent);
  ASSERT_EQ(agent->size(), 3u);
  EXPECT_EQ((*agent)[1].kind, EventKind::note);
}

TEST(SqliteStore, DataSurvivesCloseAndReopen) {
  TempDir dir;
  const std::string path = dir.file("baton.db");
  // As the hub writes it: the row's last_seq is that of its latest event.
  auto c1 = make_conversation("c1", 10);
  c1.last_seq = 1;
  {
    auto store = open_store(path);
    Write w;
    w.conversation = c1;
    w.event = make_event("c1", 1, "a");
    w.put_session = AgentSession{"tok", "ana", 100, 200};
    ASSERT_TRUE(write_and_wait(*store, w));
  }
  auto store = open_store(path);
  auto c = store->conversation("c1");
  ASSERT_TRUE(c && c->has_value());
  expect_same(**c, c1);
  auto evs = store->events("c1", 0, 10, true);
  ASSERT_TRUE(evs);
  ASSERT_EQ(evs->size(), 1u);
  expect_same((*evs)[0], make_event("c1", 1, "a"));
  auto s = store->session("tok");
  ASSERT_TRUE(s && s->has_value());
  EXPECT_EQ((*s)->agent, "ana");
  // De-duplication also holds across a restart.
  auto dup = write_and_wait(*store, event_write(make_event("c1", 2, "a")));
  ASSERT_TRUE(dup);
  EXPECT_TRUE(dup->duplicate);
  EXPECT_EQ(dup->seq, 1);
}

// An activity-only write leaves the row for later; reads see the activity at once.
Write activity_write(Conversation c, const Event& e) {
  c.last_seq = e.seq;
  c.last_message = e.text;
  c.updated_at = e.at;
  Write w;
  w.event = e;
  w.conversation = std::move(c);
  w.activity_only = true;
  return w;
}

TEST(SqliteStore, ActivityOnlyWritesAreReadBackAtOnceAndKeptAcrossReopen) {
  TempDir dir;
  const std::string path = dir.file("baton.db");
  const auto c1 = make_conversation("c1", 10);
  {
    // Long enough that only list() and closing the store write the rows.
    auto store = open_store(path, SqliteOptions{.activity_delay = std::chrono::hours(1)});
    ASSERT_TRUE(write_and_wait(*store, conversation_write(c1)));
    ASSERT_TRUE(write_and_wait(*store, conversation_write(make_conversation("c2", 50))));
    ASSERT_TRUE(write_and_wait(*store, activity_write(c1, make_event("c1", 1))));
    ASSERT_TRUE(write_and_wait(*store, activity_write(c1, make_event("c1", 2))));

    auto c = store->conversation("c1");
    ASSERT_TRUE(c && c->has_value());
    EXPECT_EQ((*c)->last_seq, 2);
    EXPECT_EQ((*c)->last_message, "message 2");
    EXPECT_EQ((*c)->updated_at, 2002);
    auto live = store->load_live();
    ASSERT_TRUE(live);
    ASSERT_EQ(live->size(), 2u);
    for (const auto& l : *live) EXPECT_EQ(l.last_seq, l.id == "c1" ? 2 : 0) << l.id;
    // c1 moved ahead of c2 (updated 2002 > 50) in the rows that list() orders by.
    auto page = store->list(ListQuery{.limit = 1});
    ASSERT_TRUE(page);
    ASSERT_EQ(page->size(), 1u);
    EXPECT_EQ(page->front().id, "c1");
    EXPECT_EQ(page->front().updated_at, 2002);

    ASSERT_TRUE(write_and_wait(*store, activity_write(c1, make_event("c1", 3))));
  }
  auto store = open_store(path);
  auto c = store->conversation("c1");
  ASSERT_TRUE(c && c->has_value());
  EXPECT_EQ((*c)->last_seq, 3);
  EXPECT_EQ((*c)->last_message, "message 3");
  EXPECT_EQ((*c)->updated_at, 2003);
}

TEST(SqliteStore, AWholeRowWriteSupersedesPendingActivity) {
  TempDir dir;
  auto store = open_store(dir.file("baton.db"), SqliteOptions{.activity_delay = std::chrono::hours(1)});
  auto c1 = make_conversation("c1", 10);
  ASSERT_TRUE(write_and_wait(*store, conversation_write(c1)));
  ASSERT_TRUE(write_and_wait(*store, activity_write(c1, make_event("c1", 1))));
  // Closed: the whole row, with its latest activity.
  auto closed = make_conversation("c1", 3000, ConversationState::closed);
  closed.last_seq = 2;
  closed.last_message = "message 1";
  Write w;
  w.conversation = closed;
  w.event = make_event("c1", 2, "", EventKind::closed);
  ASSERT_TRUE(write_and_wait(*store, w));
  auto c = store->conversation("c1");
  ASSERT_TRUE(c && c->has_value());
  expect_same(**c, closed);
}

TEST(SqliteStore, ActivityLostInACrashIsRebuiltFromTheEventsOnOpen) {
  TempDir dir;
  const std::string path = dir.file("baton.db");
  {
    auto store = open_store(path);
    // What a crash leaves behind: events stored, the live row not yet brought up to them.
    ASSERT_TRUE(write_and_wait(*store, conversation_write(make_conversation("c1", 10))));
    ASSERT_TRUE(write_and_wait(*store, event_write(make_event("c1", 1))));
    ASSERT_TRUE(write_and_wait(*store, event_write(make_event("c1", 2))));
    ASSERT_TRUE(write_and_wait(*store, event_write(make_event("c1", 3, "", EventKind::joined,
                                                                  AuthorKind::agent))));
    // A closed conversation's row is whole by contract and left alone.
    ASSERT_TRUE(write_and_wait(*store, conversation_write(make_conversation("c2", 10, ConversationState::closed))));
    ASSERT_TRUE(write_and_wait(*store, event_write(make_event("c2", 1))));
  }
  auto store = open_store(path);
  auto c = store->conversation("c1");
  ASSERT_TRUE(c && c->has_value());
  EXPECT_EQ((*c)->last_seq, 3);
  EXPECT_EQ((*c)->last_message, "message 2");  // the latest message, not the joined event
  EXPECT_EQ((*c)->updated_at, 2003);
  auto c2 = store->conversation("c2");
  ASSERT_TRUE(c2 && c2->has_value());
  EXPECT_EQ((*c2)->last_seq, 0);
}

TEST(SqliteStore, DestructorCompletesEveryQueuedWrite) {
  TempDir dir;
  const std::string path = dir.file("baton.db");
  constexpr int kWrites = 300;
  std::atomic<int> ok{0};
  {
    auto store = open_store(path, SqliteOptions{.max_batch = 16});
    store->write(conversation_write(make_conversation("c1", 10)), nullptr);
    for (int i = 1; i <= kWrites; ++i) {
      store->write(event_write(make_event("c1", i)), [&ok](Result<WriteResult> r) {
        if (r) ++ok;
      });
    }
  }
  EXPECT_EQ(ok.load(), kWrites);
  auto store = open_store(path);
  auto evs = store->events("c1", 0, 1000, true);
  ASSERT_TRUE(evs);
  EXPECT_EQ(evs->size(), static_cast<std::size_t>(kWrites));
}

TEST(SqliteStore, CallbackMayWriteAgain) {
  TempDir dir;
  auto store = open_store(dir.file("baton.db"));
  auto p = std::make_shared<std::promise<Result<WriteResult>>>();
  auto f = p->get_future();
  store->write(conversation_write(make_conversation("c1", 10)),
               [&store, p](Result<WriteResult> r) {
                 if (!r) {
                   p->set_value(r);
                   return;
                 }
                 store->write(event_write(make_event("c1", 1)),
                              [p](Result<WriteResult> r2) { p->set_value(std::move(r2)); });
               });
  auto r = wait(f);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->seq, 1);
}

TEST(SqliteStore, LoadLiveExcludesClosedTransferredAndAbandoned) {
  TempDir dir;
  auto store = open_store(dir.file("baton.db"));
  using S = ConversationState;
  const std::vector<std::pair<std::string, S>> rows = {
      {"waiting", S::waiting},   {"active", S::active},           {"transferring", S::transferring},
      {"closed", S::closed},     {"transferred", S::transferred}, {"abandoned", S::abandoned},
  };
  for (const auto& [id, state] : rows) {
    ASSERT_TRUE(write_and_wait(*store, conversation_write(make_conversation(id, 10, state))));
  }
  auto live = store->load_live();
  ASSERT_TRUE(live) << live.error().message;
  auto got = ids(*live);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"active", "transferring", "waiting"}));
  for (const auto& c : *live) EXPECT_FALSE(core::is_terminal(c.state));
}

// 60 conversations; updated_at repeats so that ties are broken by id.
std::vector<Conversation> seed_for_list(SqliteStore& store) {
  std::vector<Conversation> all;
  const ConversationState states[] = {ConversationState::waiting, ConversationState::active,
                                      ConversationState::closed};
  const char* agents[] = {"ana", "bo"};
  const char* queues[] = {"sales", "claims", "support"};
  for (int i = 0; i < 60; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "c%02d", (i * 37) % 60);  // ids not in time order
    all.push_back(make_conversation(id, 1000 + i / 4, states[i % 3], agents[i % 2], queues[i % 5 % 3]));
    store.write(conversation_write(all.back()), nullptr);
  }
  store.flush();
  return all;
}

// Every page of `q` (limit `page`), in order; fails the test on an error.
std::vector<std::string> page_through(SqliteStore& store, ListQuery q, std::size_t page) {
  std::vector<std::string> out;
  q.limit = page;
  for (int guard = 0; guard < 1000; ++guard) {
    auto r = store.list(q);
    EXPECT_TRUE(r) << r.error().message;
    if (!r || r->empty()) break;
    EXPECT_LE(r->size(), page);
    for (const auto& c : *r) out.push_back(c.id);
    q.before_updated_at = r->back().updated_at;
    q.before_id = r->back().id;
  }
  return out;
}

std::vector<std::string> expected_order(std::vector<Conversation> all,
                                        bool (*keep)(const Conversation&)) {
  std::vector<Conversation> kept;
  for (auto& c : all)
    if (keep(c)) kept.push_back(c);
  std::sort(kept.begin(), kept.end(), [](const Conversation& a, const Conversation& b) {
    return std::tie(a.updated_at, a.id) > std::tie(b.updated_at, b.id);
  });
  return ids(kept);
}

TEST(SqliteStore, ListPagesByCursorNewestFirstReturningEveryRowOnce) {
  TempDir dir;
  auto store = open_store(dir.file("baton.db"));
  auto all = seed_for_list(*store);

  auto expected = expected_order(all, [](const Conversation&) { return true; });
  ASSERT_EQ(expected.size(), 60u);
  EXPECT_EQ(page_through(*store, ListQuery{}, 7), expected);
  EXPECT_EQ(page_through(*store, ListQuery{}, 1), expected);
  EXPECT_EQ(page_through(*store, ListQuery{}, 200), expected);
}

TEST(SqliteStore, ListFiltersByStateAgentAndQueueWithCursor) {
  TempDir dir;
  auto store = open_store(dir.file("baton.db"));
  auto all = seed_for_list(*store);

  ListQuery by_state;
  by_state.state = ConversationState::active;
  auto want_state = expected_order(
      all, [](const Conversation& c) { return c.state == ConversationState::active; });
  ASSERT_FALSE(want_state.empty());
  EXPECT_EQ(page_through(*store, by_state, 4), want_state);

  ListQuery by_agent;
  by_agent.agent = "bo";
  auto want_agent = expected_order(all, [](const Conversation& c) { return c.agent == "bo"; });
  EXPECT_EQ(page_through(*store, by_agent, 6), want_agent);

  ListQuery by_queue;
  by_queue.queue = "claims";
  auto want_queue =
      expected_order(all, [](const Conversation& c) { return c.queue == "claims"; });
  EXPECT_EQ(page_through(*store, by_queue, 5), want_queue);

  ListQuery all_three;
  all_three.state = ConversationState::waiting;
  all_three.agent = "ana";
  all_three.queue = "sales";
  auto want_all = expected_order(all, [](const Conversation& c) {
    return c.state == ConversationState::waiting && c.agent == "ana" && c.queue == "sales";
  });
  ASSERT_FALSE(want_all.empty());
  EXPECT_EQ(page_through(*store, all_three, 2), want_all);

  ListQuery nobody;
  nobody.agent = "nobody";
  auto none = store->list(nobody);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(SqliteStore, ListCapsLimitAt200) {
  TempDir dir;
  auto store = open_store(dir.file("baton.db"));
  for (int i = 0; i < 230; ++i) {
    store->write(conversation_write(make_conversation("c" + std::to_string(i), i + 1)), nullptr);
  }
  store->flush();
  ListQuery q;
  q.limit = 100'000;
  auto r = store->list(q);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->size(), SqliteStore::kMaxListLimit);
}

Result<std::int64_t> user_version(const std::string& path) {
  auto db = Db::open(path, SQLITE_OPEN_READONLY);
  if (!db) return db.error();
  return db->query_int64("PRAGMA user_version");
}

TEST(SqliteStore, MigrationsApplyOnceAndReopenIsIdempotent) {
  TempDir dir;
  const std::string path = dir.file("baton.db");
  {
    auto store = open_store(path);
    ASSERT_TRUE(write_and_wait(*store, conversation_write(make_conversation("c1", 10))));
  }
  auto v1 = user_version(path);
  ASSERT_TRUE(v1) << v1.error().message;
  EXPECT_EQ(*v1, SqliteStore::schema_version());
  {
    auto store = open_store(path);
    auto c = store->conversation("c1");
    ASSERT_TRUE(c && c->has_value());
  }
  auto v2 = user_version(path);
  ASSERT_TRUE(v2);
  EXPECT_EQ(*v2, SqliteStore::schema_version());
}

TEST(SqliteStore, DatabaseFromNewerVersionIsRefused) {
  TempDir dir;
  const std::string path = dir.file("baton.db");
  { open_store(path); }
  {
    auto db = Db::open(path, SQLITE_OPEN_READWRITE);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->exec("PRAGMA user_version = " +
                         std::to_string(SqliteStore::schema_version() + 1)));
  }
  auto r = SqliteStore::open(path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
  EXPECT_NE(r.error().message.find("newer"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(path), std::string::npos) << r.error().message;
  auto v = user_version(path);
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, SqliteStore::schema_version() + 1);  // left alone
}

TEST(SqliteStore, InjectedFailureIsReportedToItsOwnCallbackOnly) {
  TempDir dir;
  auto store = open_store(dir.file("baton.db"));
  ASSERT_TRUE(write_and_wait(*store, conversation_write(make_conversation("c1", 10))));

  std::vector<int> order;  // written on the writer thread, read after flush()
  std::vector<std::future<Result<WriteResult>>> futures;
  {
    WriterGate gate(*store);
    store->fail_writes_for_test(1);
    for (int i = 1; i <= 3; ++i) {
      Write w;
      w.event = make_event("c1", i);
      Conversation c = make_conversation("c1", 10 + i);
      c.last_seq = i;
      w.conversation = c;
      auto p = std::make_shared<std::promise<Result<WriteResult>>>();
      futures.push_back(p->get_future());
      store->write(std::move(w), [p, i, &order](Result<WriteResult> r) {
        order.push_back(i);
        p->set_value(std::move(r));
      });
    }
  }
  auto r1 = wait(futures[0]);
  auto r2 = wait(futures[1]);
  auto r3 = wait(futures[2]);
  ASSERT_FALSE(r1);
  EXPECT_EQ(r1.error().code, Errc::unavailable);
  ASSERT_TRUE(r2) << r2.error().message;
  ASSERT_TRUE(r3) << r3.error().message;
  store->flush();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));

  auto evs = store->events("c1", 0, 100, true);
  ASSERT_TRUE(evs);
  ASSERT_EQ(evs->size(), 2u);
  EXPECT_EQ((*evs)[0].seq, 2);
  EXPECT_EQ((*evs)[1].seq, 3);
  auto c = store->conversation("c1");
  ASSERT_TRUE(c && c->has_value());
  EXPECT_EQ((*c)->last_seq, 3);

  // The hook is spent: the next write succeeds.
  EXPECT_TRUE(write_and_wait(*store, event_write(make_event("c1", 4))));
}

TEST(SqliteStore, ConstraintErrorFailsOnlyThatWriteInItsBatch) {
  TempDir dir;
  auto store = open_store(dir.file("baton.db"));
  ASSERT_TRUE(write_and_wait(*store, conversation_write(make_conversation("c1", 10))));
  ASSERT_TRUE(write_and_wait(*store, event_write(make_event("c1", 1, "first"))));

  std::future<Result<WriteResult>> before, bad, after;
  {
    WriterGate gate(*store);
    before = submit(*store, event_write(make_event("c1", 2)));
    // Same seq as a stored event with another client id: a primary key clash.
    Write clash;
    clash.event = make_event("c1", 1, "other");
    Conversation c = make_conversation("c1", 77);
    clash.conversation = c;
    bad = submit(*store, clash);
    after = submit(*store, event_write(make_event("c1", 3)));
  }
  auto rb = wait(before);
  auto rx = wait(bad);
  auto ra = wait(after);
  EXPECT_TRUE(rb) << rb.error().message;
  ASSERT_FALSE(rx);
  EXPECT_EQ(rx.error().code, Errc::unavailable);
  EXPECT_TRUE(ra) << ra.error().message;

  auto evs = store->events("c1", 0, 100, true);
  ASSERT_TRUE(evs);
  ASSERT_EQ(evs->size(), 3u);
  EXPECT_EQ((*evs)[0].client_id, "first");
  auto c = store->conversation("c1");
  ASSERT_TRUE(c && c->has_value());
  EXPECT_EQ((*c)->updated_at, 10);  // the failed write's upsert was rolled back
}

TEST(SqliteStore, EventForUnknownConversationFails) {
  TempDir dir;
  auto store = open_store(dir.file("baton.db"));
  auto r = write_and_wait(*store, event_write(make_event("ghost", 1)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
}

TEST(SqliteStore, OpenInMissingFolderReturnsErrorNamingPath) {
  TempDir dir;
  const std::string path = dir.file("missing/sub/baton.db");
  auto r = SqliteStore::open(path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
  EXPECT_NE(r.error().message.find(path), std::string::npos) << r.error().message;
}

TEST(SqliteStore, OpenUnderARegularFileOrOnAFolderReturnsError) {
  TempDir dir;
  {
    std::ofstream(dir.file("plain")) << "not a folder";
  }
  const std::string under_file = dir.file("plain/baton.db");
  auto r1 = SqliteStore::open(under_file);
  ASSERT_FALSE(r1);
  EXPECT_EQ(r1.error().code, Errc::unavailable);
  EXPECT_NE(r1.error().message.find(under_file), std::string::npos) << r1.error().message;

  auto r2 = SqliteStore::open(dir.file(""));
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code, Errc::unavailable);
}

TEST(SqliteStore, OpenOnAFileThatIsNotADatabaseReturnsError) {
  TempDir dir;
  const std::string path = dir.file("junk.db");
  {
    std::ofstream out(path);
    for (int i = 0; i < 100; ++i) out << "this is not an sqlite database\n";
  }
  auto r = SqliteStore::open(path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
  EXPECT_NE(r.error().message.find(path), std::string::npos) << r.error().message;
}

TEST(SqliteStore, SessionsCanBePutReadReplacedAndDeleted) {
  TempDir dir;
  auto store = open_store(dir.file("baton.db"));
  Write put;
  put.put_session = AgentSession{"h1", "ana", 100, 200};
  ASSERT_TRUE(write_and_wait(*store, put));

  auto s = store->session("h1");
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_TRUE(s->has_value());
  EXPECT_EQ((*s)->token_hash, "h1");
  EXPECT_EQ((*s)->agent, "ana");
  EXPECT_EQ((*s)->created_at, 100);
  EXPECT_EQ((*s)->expires_at, 200);

  Write renew;
  renew.put_session = AgentSession{"h1", "ana", 100, 900};
  ASSERT_TRUE(write_and_wait(*store, renew));
  s = store->session("h1");
  ASSERT_TRUE(s && s->has_value());
  EXPECT_EQ((*s)->expires_at, 900);

  Write del;
  del.delete_session = "h1";
  ASSERT_TRUE(write_and_wait(*store, del));
  s = store->session("h1");
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->has_value());

  auto unknown = store->session("never");
  ASSERT_TRUE(unknown);
  EXPECT_FALSE(unknown->has_value());
}

TEST(SqliteStore, ReadsRunConcurrentlyWithTheWriter) {
  TempDir dir;
  auto store = open_store(dir.file("baton.db"), SqliteOptions{.max_batch = 8, .readers = 2});
  ASSERT_TRUE(write_and_wait(*store, conversation_write(make_conversation("c1", 10))));
  constexpr int kWrites = 400;

  std::atomic<bool> read_failed{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {  // more readers than connections: some wait for one
    readers.emplace_back([&] {
      std::size_t last = 0;
      for (int i = 0; i < 150; ++i) {
        auto evs = store->events("c1", 0, 10'000, false);
        auto l = store->list(ListQuery{});
        if (!evs || !l || evs->size() < last) {
          read_failed = true;
          return;
        }
        last = evs->size();  // a later read never sees fewer events
      }
    });
  }
  for (int i = 1; i <= kWrites; ++i) store->write(event_write(make_event("c1", i)), nullptr);
  for (auto& th : readers) th.join();
  store->flush();
  EXPECT_FALSE(read_failed.load());
  auto evs = store->events("c1", 0, 10'000, true);
  ASSERT_TRUE(evs);
  EXPECT_EQ(evs->size(), static_cast<std::size_t>(kWrites));
}

TEST(SqliteStore, SynchronousNormalAlsoStoresWrites) {
  TempDir dir;
  const std::string path = dir.file("baton.db");
  {
    auto store = open_store(path, SqliteOptions{.synchronous_full = false});
    ASSERT_TRUE(write_and_wait(*store, conversation_write(make_conversation("c1", 10))));
  }
  auto store = open_store(path);
  auto c = store->conversation("c1");
  ASSERT_TRUE(c && c->has_value());
}


// A PASSIVE checkpoint never catches up while the writer keeps appending, and the
// WAL only starts over after one that did: under unbroken load it would grow
// without end (seen at 114 MB after a few seconds of the relay benchmark).
TEST(SqliteStore, WalStartsOverUnderUnbrokenLoad) {
  TempDir dir;
  // Smaller than the defaults, so that the test writes tens of megabytes, not hundreds.
  constexpr int kRestart = 4000;
  auto store = open_store(dir.file("baton.db"),
                          SqliteOptions{.max_batch = 16, .checkpoint_pages = 1000, .restart_pages = kRestart});
  ASSERT_TRUE(write_and_wait(*store, conversation_write(make_conversation("c1", 10))));

  // Keeps writes queued at all times: a new one goes in as each completes. Each
  // completion (on the writer thread, after its commit) looks at the WAL's size.
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  bool stop = false;
  int failed = 0;
  int highest = 0;
  bool started_over = false;
  std::int64_t seq = 0;
  const std::string text(3000, 'x');  // most of a page per event
  std::thread producer([&] {
    std::unique_lock lk(mu);
    for (;;) {
      cv.wait(lk, [&] { return in_flight < 32 || stop; });
      if (stop) return;
      ++in_flight;
      Event e = make_event("c1", ++seq);
      e.text = text;
      lk.unlock();
      store->write(event_write(e), [&](Result<WriteResult> r) {
        const int pages = store->wal_pages();
        std::lock_guard g(mu);
        if (!r) ++failed;
        --in_flight;
        highest = std::max(highest, pages);
        if (highest >= kRestart && pages < highest / 2) started_over = true;
        cv.notify_all();
      });
      lk.lock();
    }
  });
  {
    std::unique_lock lk(mu);
    // Past 5 times the threshold it is not going to start over (and the disk fills).
    cv.wait_for(lk, kDeadline, [&] { return started_over || highest > 5 * kRestart; });
    stop = true;
  }
  cv.notify_all();
  producer.join();
  store->flush();
  std::lock_guard lk(mu);
  EXPECT_EQ(failed, 0);
  EXPECT_GE(highest, kRestart);
  EXPECT_TRUE(started_over) << "the WAL reached " << highest << " pages and never started over";
  // And nothing was lost on the way.
  auto evs = store->events("c1", 0, 1'000'000, true);
  ASSERT_TRUE(evs);
  EXPECT_EQ(static_cast<std::int64_t>(evs->size()), seq);
}

// With synchronous_full the writer commits without waiting for the disk and a
// thread of its own syncs the WAL: a write's callback runs only after an fdatasync of
// the WAL that finished after the write was submitted.
TEST(SqliteStore, AWriteIsAcknowledgedOnlyAfterTheWalIsSynced) {
  TempDir dir;
  auto store = open_store(dir.file("baton.db"));
  ASSERT_TRUE(write_and_wait(*store, conversation_write(make_conversation("c1", 10))));
  for (int i = 1; i <= 50; ++i) {
    const std::uint64_t before = store->wal_syncs();
    auto p = std::make_shared<std::promise<std::uint64_t>>();
    auto f = p->get_future();
    store->write(event_write(make_event("c1", i)), [&store, p](Result<WriteResult> r) {
      p->set_value(r ? store->wal_syncs() : 0);
    });
    ASSERT_EQ(f.wait_for(kDeadline), std::future_status::ready);
    EXPECT_GT(f.get(), before) << "write " << i << " acknowledged before a sync";
  }
}

// A WAL that cannot be synced (here: gone from its folder, so not found) fails the
// writes waiting for that sync instead of acknowledging them; they work again once
// it can be.
TEST(SqliteStore, AWriteWhoseWalCannotBeSyncedIsNotAcknowledged) {
  TempDir dir;
  const std::string path = dir.file("baton.db");
  auto store = open_store(path);
  ASSERT_TRUE(write_and_wait(*store, conversation_write(make_conversation("c1", 10))));
  ASSERT_TRUE(write_and_wait(*store, event_write(make_event("c1", 1, "one"))));
  const std::string wal = path + "-wal";
  const std::string aside = path + "-wal.aside";
  ASSERT_EQ(std::rename(wal.c_str(), aside.c_str()), 0);
  auto r = write_and_wait(*store, event_write(make_event("c1", 2, "two")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, core::Errc::unavailable);
  EXPECT_NE(r.error().message.find("not known to be on disk"), std::string::npos) << r.error().message;
  ASSERT_EQ(std::rename(aside.c_str(), wal.c_str()), 0);
  // The client sends it again: stored already, so acknowledged as a duplicate now.
  auto again = write_and_wait(*store, event_write(make_event("c1", 2, "two")));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->seq, 2);
  EXPECT_TRUE(again->duplicate);
  ASSERT_TRUE(write_and_wait(*store, event_write(make_event("c1", 3, "three"))));
}

}  // namespace
}  // namespace baton::storage
