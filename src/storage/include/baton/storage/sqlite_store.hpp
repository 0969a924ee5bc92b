// core::Store on SQLite: WAL mode, one writer thread with group commit, and a
// small pool of read-only connections so that reads never wait for a commit.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "baton/core/store.hpp"
#include "baton/storage/sqlite.hpp"

namespace baton::storage {

struct SqliteOptions {
  // true: a commit is on disk (the syncer thread's fdatasync of the WAL) before its
  // callbacks run, even across a power cut. false: callbacks run once SQLite has
  // committed (synchronous=NORMAL): consistent, but a power cut may lose the last commits.
  bool synchronous_full = true;
  std::size_t max_batch = 512;  // writes per group commit (at least 1)
  int readers = 2;              // read-only connections (at least 1)
  // How long the activity of activity-only writes (core::Write::activity_only) may
  // wait before it is written to the conversation rows.
  std::chrono::milliseconds activity_delay{1000};
  // WAL pages appended between two checkpoints, and the WAL's size in pages past
  // which it is made to start over (see run_checkpointer; decisions/sqlite-store.md).
  int checkpoint_pages = 4000;
  int restart_pages = 64000;
};

// Thread-safety: every public member is thread-safe, except that the destructor
// must not race with other calls. WriteDone callbacks run on one store thread (the
// syncer with synchronous_full, the writer otherwise), one at a time, in submission
// order; they may call write() but not flush().
//
// Storage contract beyond core::Store:
// - an event's conversation must already exist or come in the same Write
//   (foreign key); otherwise that write fails with `unavailable`;
// - a Write's conversation is upserted before its event is inserted (same
//   savepoint, so the result is the same as the order core::Write lists);
// - any failure inside one Write (constraint, disk full) rolls back that Write
//   alone and is reported as `unavailable` to its callback;
// - more_events are inserted after the transfer, each skipped (and named in
//   WriteResult::skipped) when its client id is stored already; outbox deletes come
//   before outbox puts; a nonce still stored after forget_nonces_until is a
//   failure of the whole Write (a replay);
// - session() returns a session even if expired: callers compare expires_at;
// - an activity-only write stores its event at once and its conversation's
//   last_seq, last_message and updated_at within `activity_delay` (in one
//   transaction for all such conversations), and at once before list() reads or
//   the store closes. conversation() and load_live() see them meanwhile. After a
//   crash, open() rebuilds them from the events.
class SqliteStore final : public core::Store {
 public:
  // Opens or creates the database at `path` (its folder must exist), applies the
  // missing schema migrations and starts the writer thread. Fails with
  // `unavailable` (message naming `path`) if the file cannot be opened or written,
  // or if its schema is newer than this binary knows.
  static core::Result<std::unique_ptr<SqliteStore>> open(const std::string& path,
                                                        SqliteOptions opts = {});

  // Completes every queued write (callbacks included), then joins the writer.
  ~SqliteStore() override;

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  void write(core::Write w, WriteDone done) override;
  // REQUIRES: not called from a WriteDone callback; there it could only wait for
  // itself, so it logs an error and returns at once.
  void flush() override;

  core::Result<std::vector<core::Conversation>> load_live() override;
  core::Result<std::optional<core::Conversation>> conversation(std::string_view id) override;
  core::Result<std::vector<core::Event>> events(std::string_view conversation_id,
                                                std::int64_t after_seq, std::size_t limit,
                                                bool include_notes) override;
  // q.limit is capped at kMaxListLimit.
  core::Result<std::vector<core::Conversation>> list(const core::ListQuery& q) override;
  core::Result<std::optional<core::AgentSession>> session(std::string_view token_hash) override;
  core::Result<std::vector<core::Transfer>> transfers(std::string_view conversation_id) override;
  core::Result<std::optional<core::Transfer>> transfer(std::string_view id) override;
  core::Result<std::vector<core::Transfer>> open_transfers() override;
  core::Result<std::vector<core::OutboxItem>> outbox() override;
  core::Result<std::vector<core::SeenNonce>> nonces(core::Millis now) override;
  core::Result<std::vector<core::Attempt>> attempts(std::string_view scope, core::Millis since) override;

  // The schema version this binary creates and understands (PRAGMA user_version).
  static int schema_version();

  // Test hook: the next `n` writes the writer applies fail, after doing their
  // work, as a full disk would; each is rolled back alone and reported unavailable.
  void fail_writes_for_test(int n) { fail_writes_.store(n); }

  static constexpr std::size_t kMaxListLimit = 200;

  // Pages in the WAL after the latest commit (0 until the first). It starts over from
  // 0 once a checkpoint has copied every page, even under unbroken load.
  int wal_pages() const { return wal_pages_.load(std::memory_order_relaxed); }
  // fdatasyncs of the WAL that made writes durable before their callbacks ran
  // (synchronous_full only).
  std::uint64_t wal_syncs() const { return wal_syncs_.load(std::memory_order_relaxed); }

 private:
  struct Pending {
    core::Write write;
    WriteDone done;
  };
  class ReaderLease;

  SqliteStore(Db writer, std::vector<Db> readers, Db checkpointer, SqliteOptions opts);

  // The latest activity of a conversation not yet in its row.
  struct Activity {
    std::int64_t last_seq = 0;
    std::string last_message;
    core::Millis updated_at = 0;
  };

  void run_writer();
  // With synchronous_full: the writer commits with synchronous=NORMAL (no fsync) and
  // hands each committed batch to this thread, which fdatasyncs the WAL and only then
  // runs the batch's callbacks, in order. The writer applies and commits the next
  // batch meanwhile, so that the wait for the disk is no longer on its path
  // (decisions/sqlite-store.md).
  void run_syncer();
  // Runs the callbacks of a batch and counts it completed.
  void complete(std::vector<Pending>& batch, std::vector<core::Result<core::WriteResult>>& results);
  // Makes every write the WAL file has received durable (fdatasync of the WAL).
  core::Status sync_wal();
  // Checkpoints the WAL into the database file on a thread of its own (PASSIVE: it
  // never blocks the writer), so that no commit pays for one; see sqlite-store.md.
  //
  // Under unbroken load a PASSIVE checkpoint never catches up: the writer appends
  // while it copies, and the WAL starts over only after a checkpoint that copied it
  // all. So once the WAL is past restart_pages, the checkpointer goes round until at
  // most kCatchUpPages are left, the writer copies those itself between two commits
  // (a short pause: nothing is appended meanwhile), and the next commit starts the
  // WAL over.
  void run_checkpointer();
  // Writer thread: the catch-up above.
  void catch_up_checkpoint();
  // sqlite3_wal_hook of the writer's connection: after each commit, the WAL's size in
  // pages; wakes the checkpointer each time checkpoint_pages more were appended.
  static int on_wal_commit(void* store, sqlite3* db, const char* name, int pages);
  // Past restart_pages, the checkpointer goes round again while the WAL keeps
  // growing, up to kCatchUpRounds times, until at most kCatchUpPages are left for
  // the writer (whose copy holds up the commits for that long).
  static constexpr int kCatchUpRounds = 8;
  static constexpr int kCatchUpPages = 64;
  // Writer thread: writes pending activity to the rows, in a transaction of its own.
  void write_activity();
  // Notes in activity_ what a committed batch changed.
  void record_activity(const std::vector<Pending>& batch,
                       const std::vector<core::Result<core::WriteResult>>& results);
  // Applies pending activity of `c` (read from a row) to it.
  void overlay_activity(core::Conversation& c, const Activity* before) const;
  // Applies `batch` in one transaction, with the writes queued meanwhile (appended to
  // `batch`, up to max_batch); one result per write, in order.
  std::vector<core::Result<core::WriteResult>> commit_batch(std::vector<Pending>& batch);
  // Moves queued writes to `batch`, up to max_batch in all; false if none.
  bool take_more(std::vector<Pending>& batch);
  core::Result<core::WriteResult> apply(const core::Write& w);
  bool take_injected_failure();

  ReaderLease lease_reader();

  const SqliteOptions opts_;
  Db writer_db_;  // used only by the writer thread once it has started

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;  // work queued, or stopping
  std::condition_variable done_cv_;   // completed_ moved
  std::deque<Pending> queue_;
  std::uint64_t submitted_ = 0;  // writes ever queued
  std::uint64_t completed_ = 0;  // writes whose callbacks have run (a prefix of submitted_)
  std::uint64_t activity_requested_ = 0;  // list() calls that asked for activity written
  std::uint64_t activity_written_ = 0;    // ... and how many of those are answered
  bool stopping_ = false;

  mutable std::mutex activity_mu_;
  std::unordered_map<std::string, Activity> activity_;  // by conversation id

  std::mutex readers_mu_;
  std::condition_variable readers_cv_;
  std::vector<Db> idle_readers_;

  std::atomic<int> fail_writes_{0};

  Db checkpoint_db_;  // used only by the checkpointer thread
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  int wal_pages_asked_ = 0;          // writer thread: WAL size at the last checkpoint asked for
  std::atomic<int> wal_pages_{0};
  // Set by the checkpointer when its checkpoint left only the last few pages of a long
  // WAL uncopied; the writer then copies those between two commits.
  std::atomic<bool> catch_up_wanted_{false};
  bool checkpoint_wanted_ = false;  // guarded by checkpoint_mu_
  bool checkpoint_stop_ = false;

  struct Committed {
    std::vector<Pending> batch;
    std::vector<core::Result<core::WriteResult>> results;
  };
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  std::deque<Committed> sync_queue_;  // guarded by sync_mu_
  bool sync_stop_ = false;           // guarded by sync_mu_
  int wal_fd_ = -1;                   // syncer thread only
  std::atomic<std::uint64_t> wal_syncs_{0};
  bool dir_synced_ = false;           // syncer thread only

  // Last: they start after everything above is built. They name themselves
  // (store-writer, store-ckpt, store-sync) for profiles and bench/loadgen.
  std::thread checkpointer_;
  std::thread writer_;
  std::thread syncer_;  // only with synchronous_full
};

}  // namespace baton::storage
