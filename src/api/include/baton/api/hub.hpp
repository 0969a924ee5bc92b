// The hub: one organization's live desk. It owns the core::Desk, assigns
// sequence numbers, writes every change through the store, and fans events out
// to subscribed clients after they are durable.
//
// Transfers are stored before they act: each step of a transfer record is
// applied in memory, written with what goes with it (the conversation, its
// events, the outbox rows of requests to a partner) in one core::Write, and only
// once that is stored is anyone told: a partner, the visitor, an agent. If the
// write fails the step is undone in memory. One step of a record runs at a time
// (a lease per record id): whatever else concerns that record waits its turn.
//
// Threads: every public method may be called from any thread; the work runs on
// the hub's strand, store reads on the blocking executor, and callbacks are
// invoked on the hub's strand (callers hop back to their own executor if they
// need to). Time, timers, randomness, the store and the network to partners are
// injected, so that the simulation (tests/sim) runs this code on its own clock.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "baton/api/peer_outbox.hpp"
#include "baton/api/settings.hpp"
#include "baton/api/timers.hpp"
#include "baton/core/desk.hpp"
#include "baton/core/store.hpp"
#include "baton/core/transfer.hpp"
#include "baton/federation/peer_client.hpp"

namespace baton::api {

// A realtime client as the hub sees it. deliver() must be thread-safe and cheap.
class Subscriber {
 public:
  using Batch = std::vector<std::pair<std::int64_t, std::shared_ptr<const std::string>>>;
  virtual ~Subscriber() = default;
  // A live event. `seq` is the event's sequence number, or 0 for what is not in
  // the log (typing, place in line, lists).
  virtual void deliver(const std::string& conversation_id, std::int64_t seq,
                       std::shared_ptr<const std::string> payload) = 0;
  // Stored events after a subscribe's `after_seq`, oldest first, in pages; `last`
  // marks the final page. Live events may arrive before or between pages, and the
  // same seq may come both ways: the subscriber sends each seq once, in order.
  virtual void backfill(const std::string& conversation_id, Batch events, bool last) = 0;
};

// Who is acting. A visitor acts only on `conversation`, the one its token opened.
struct Actor {
  core::AuthorKind kind = core::AuthorKind::visitor;
  std::string agent;         // agent name when kind == agent
  std::string display_name;  // shown to others
  std::string conversation;  // visitors only
};

struct NewConversation {
  std::string site;
  core::VisitorInfo visitor;
  std::string first_message;  // optional
  std::string client_id;      // the first message's client id
  bool offline = false;       // left through the offline form
};

struct Created {
  core::Conversation conversation;
  std::string token;  // the visitor's secret; only its hash is stored
  std::int64_t first_seq = 0;
};

struct Ack {
  std::int64_t seq = 0;
  bool duplicate = false;
};

struct Availability {
  std::string queue;
  bool online = false;
  std::size_t waiting = 0;
  core::Millis longest_wait_ms = 0;
};

struct HubCounters {
  std::map<std::string, std::int64_t> conversations_by_state;  // live ones
  std::map<std::string, std::int64_t> queue_waiting;
  std::map<std::string, std::int64_t> agents_by_status;
  std::int64_t messages_total = 0;
  std::int64_t notes_total = 0;
  std::int64_t conversations_created_total = 0;
  std::int64_t conversations_closed_total = 0;
  std::int64_t store_errors_total = 0;
  std::int64_t peer_notice_retries_total = 0;  // notices to a partner tried again
  std::int64_t subscribers = 0;
  // Transfers that reached a final state, by "kind/state" (e.g. "peer/completed").
  std::map<std::string, std::int64_t> transfers_total;
  std::int64_t transfers_open = 0;
  // Time from a transfer's start to its successful end, per kind: buckets in ms.
  static constexpr int kLatencyBuckets = 8;
  static constexpr core::Millis kLatencyBoundsMs[kLatencyBuckets] = {10, 50, 100, 500, 1000, 5000, 20000, 120000};
  struct Latency {
    std::int64_t bucket[kLatencyBuckets + 1]{};
    std::int64_t sum_ms = 0;
    std::int64_t count = 0;
  };
  std::map<std::string, Latency> transfer_latency;
};

class Hub {
 public:
  template <typename T>
  using Callback = std::function<void(core::Result<T>)>;

  // `store`, `clock`, `random`, `timers` and `settings` must outlive the hub, and
  // `blocking` (where store reads run) the hub's last callback.
  Hub(boost::asio::any_io_executor executor, core::Store& store, core::Clock& clock,
      core::Random& random, boost::asio::any_io_executor blocking, Timers& timers,
      const Settings& settings);
  // Callbacks still queued when the hub goes do nothing.
  ~Hub();

  // Loads queues, agents and every live conversation. Blocking; call once before serving.
  core::Status load();

  void availability(const std::string& site, Callback<Availability> done);
  void create(NewConversation nc, Callback<Created> done);
  // Checks a visitor token for a conversation; gives the conversation on success.
  void authenticate_visitor(const std::string& conversation_id, const std::string& token,
                            Callback<core::Conversation> done);

  // Appends a message (or a note, agents only). Acknowledged only once stored.
  void post(const Actor& actor, const std::string& conversation_id, core::EventKind kind,
            std::string client_id, std::string text, Callback<Ack> done);
  void close(const Actor& actor, const std::string& conversation_id, Callback<core::Ok> done);
  void typing(const Actor& actor, const std::string& conversation_id, bool on);
  void claim(const std::string& agent, const std::string& conversation_id, Callback<core::Ok> done);
  void set_status(const std::string& agent, core::AgentStatus status, Callback<core::Ok> done);

  // Sends `sub` every event of the conversation after `after_seq` (from the
  // store), then a "synced" marker, then live events as they are stored.
  void subscribe(const Actor& actor, const std::string& conversation_id, std::int64_t after_seq,
                 std::shared_ptr<Subscriber> sub, Callback<core::Ok> done);
  void unsubscribe(const std::string& conversation_id, const Subscriber* sub);

  // An agent's console socket: gets list updates for its queues and conversations.
  // The first attach brings the agent online if it was offline.
  void attach_agent(const std::string& agent, std::shared_ptr<Subscriber> sub);
  void detach_agent(const std::string& agent, const Subscriber* sub);
  // The agent signed a session out: when its last console closes (now or in a
  // moment, as the server closes that session's sockets), it goes offline at once
  // instead of after the grace period kept for reloads and dropped connections.
  void agent_signed_out(const std::string& agent);

  // Transfers inside this server (DESIGN.md §2.2). The sender must own the
  // conversation. Agents involved get {"type":"transfer"} events as it moves.
  // To an agent: offered; accepted or declined; unanswered after
  // transfer_offer_ms it stays with the sender, who is told.
  void transfer_to_agent(const Actor& from, const std::string& conversation_id, const std::string& to_agent,
                         std::string note, Callback<core::Transfer> done);
  // To a queue: back to waiting there, the note attached for whoever gets it.
  void transfer_to_queue(const Actor& from, const std::string& conversation_id, const std::string& queue,
                         std::string note, Callback<core::Transfer> done);
  // The offered agent answers; or the sender calls the offer off.
  void answer_transfer(const Actor& by, const std::string& transfer_id, bool accept, std::string reason,
                       Callback<core::Transfer> done);
  void cancel_transfer(const Actor& by, const std::string& transfer_id, Callback<core::Transfer> done);
  // Warm consult: the owner and the consulted agent talk in notes; `join` brings
  // the consultant into the conversation (three-way); `finish` ends it, the owner
  // handing over (the consultant becomes the owner) or not (the consultant leaves).
  void consult_start(const Actor& from, const std::string& conversation_id, const std::string& to_agent,
                     std::string note, Callback<core::Transfer> done);
  void consult_join(const Actor& by, const std::string& transfer_id, Callback<core::Transfer> done);
  void consult_finish(const Actor& by, const std::string& transfer_id, bool hand_over,
                      Callback<core::Transfer> done);
  // ---- Transfers to other organizations (DESIGN.md §2.3-2.4; hub_federation.cpp) ----
  // REQUIRES before use: enable_federation, after load(). `link` must outlive the hub.
  // Starts sending what the outbox holds.
  void enable_federation(federation::PeerLink& link);
  // Origin, step 2: offers the conversation to `peer`; the transfer (state offering)
  // gets the peer's allowed queues with their wait figures, or fails with the reason.
  void peer_offer(const Actor& from, const std::string& conversation_id, const std::string& peer,
                  Callback<core::Transfer> done);
  // Origin, step 3: sends the context packet for the chosen queue; the visitor is moved.
  void peer_confirm(const Actor& from, const std::string& transfer_id, const std::string& queue,
                    std::string note, Callback<core::Transfer> done);
  // Origin, step 4: what the transfer page shows this visitor (its own token only).
  struct MovePage {
    std::string destination;  // the peer's organization name
    std::string join_url;     // from stored peer configuration only
    std::string join_code;
    std::string site;
  };
  void transfer_page(const std::string& conversation_id, const std::string& token, Callback<MovePage> done);
  // The way back from the transfer page: the visitor stays. Before it is moved, the
  // transfer ends at once; once moved, the peer is asked to call it off and the
  // visitor is taken back when it says so. Gives the site.
  void visitor_stays(const std::string& conversation_id, const std::string& token, Callback<std::string> done);
  // Destination, step 5: the visitor's browser presents its join code (once).
  struct Joined {
    std::string conversation;
    std::string token;
    std::string site;
  };
  void redeem_join(const std::string& code, Callback<Joined> done);
  // Destination: send a transferred visitor back to the organization it came from.
  void peer_recall(const Actor& by, const std::string& conversation_id, Callback<core::Transfer> done);
  // A verified server-to-server request: `peer` owns the key that signed it;
  // `action` is offer, context, cancel, arrived, expired or recall; `transfer_id`
  // the id in the path (empty for an offer, which names it in its body). The
  // reply is sent only once what the request changed is stored.
  struct FedReply {
    int status = 200;
    std::string body;  // JSON
  };
  void on_federation(const std::string& peer, const std::string& action, const std::string& transfer_id,
                     std::string body, std::function<void(FedReply)> done);
  // The partner organizations an agent may transfer to.
  std::vector<PeerSettings> peers() const { return settings_.federation.peers; }

  // A conversation's transfers, oldest first.
  void transfer_history(const Actor& actor, const std::string& conversation_id,
                        Callback<std::vector<core::Transfer>> done);

  // Whether `actor` may read the conversation; gives it (live or from the store).
  void readable(const Actor& actor, const std::string& conversation_id,
                Callback<core::Conversation> done);
  // The page of conversations an agent may see, newest first.
  void list(const Actor& actor, core::ListQuery q, Callback<std::vector<core::Conversation>> done);
  void counters(std::function<void(HubCounters)> done);

  const Settings& settings() const { return settings_; }
  boost::asio::any_io_executor blocking() { return blocking_; }
  core::Store& store() { return store_; }

 private:
  struct LiveSub {
    std::weak_ptr<Subscriber> sub;
    const Subscriber* key;
    bool agent;  // sees notes
  };
  // A record the hub keeps in memory: open, or with a timer of its own.
  struct Tracked {
    core::Transfer transfer;
    std::unique_ptr<Timer> timer;
  };
  struct AgentLink {
    std::vector<std::pair<const Subscriber*, std::weak_ptr<Subscriber>>> subs;
    std::unique_ptr<Timer> offline_timer;
    core::Millis signed_out_at = 0;  // a sign-out just now: no grace when the last console closes
  };
  void offline_after(const std::string& agent, core::Millis grace);

  template <typename F>
  void run(F&& f) {
    boost::asio::post(strand_, std::forward<F>(f));
  }
  // Runs `f` on the blocking executor, then `then(result)` on the strand; neither
  // runs once the hub is gone.
  template <typename F, typename Then>
  void off_strand(F&& f, Then&& then);
  core::Status can_read(const Actor& a, const core::Conversation& c) const;
  core::Status can_act(const Actor& a, const core::Conversation& c) const;
  // Assigns `e` the conversation's next seq and the time, and updates `c`'s
  // activity; nothing is written.
  core::Event stage(core::Conversation& c, core::Event e);
  // Stores `e` (seq assigned here) with the conversation's snapshot, then publishes it.
  // `activity_only`: nothing but what appending changes (last_seq, last_message,
  // updated_at) changed in `c` since it was last written (core::Write::activity_only).
  void append(core::Conversation& c, core::Event e, Callback<Ack> done, bool activity_only = false);
  // After a Write is stored: its events go to subscribers (but those the store
  // skipped as already there).
  void published(const core::Write& w, const core::WriteResult& result = {});
  void publish(const core::Event& e);
  void route();
  // Puts an agent's active conversations back in their queues (the agent is gone).
  void release_conversations_of(const std::string& agent);
  void after_queue_change(const std::string& queue);
  void notify_agents(const core::Conversation& c, const std::string& previous_agent = {});
  // After a message or a note: the conversation's summary (its last message, its
  // time) goes to the agents at once if none went in the last kActivitySummaryMs,
  // otherwise once that interval is over, with the state of then. A busy conversation
  // costs its agents one summary per interval instead of one per message; changes of
  // state (notify_agents) are never held back.
  void notify_activity(const core::Conversation& c);
  void send_due_summaries();
  static constexpr core::Millis kActivitySummaryMs = 500;
  void notify_queues();
  void send_to_agent(const std::string& agent, std::shared_ptr<const std::string> payload);
  // Sends a payload to the visitor's connections to a conversation (not agents').
  void send_to_visitor(const std::string& conversation_id, std::shared_ptr<const std::string> payload);
  void finish(const std::string& id, core::ConversationState state, const std::string& reason,
              const Actor& by, Callback<core::Ok> done);
  // Ends a live conversation in memory and stages its closing event into `w`
  // (w.conversation its final state); the caller stores `w`. False if not live.
  bool finish_staged(const std::string& id, core::ConversationState state, const std::string& reason,
                     core::Write& w);
  // After a finish_staged write is stored: the desk's news.
  void after_finish(const core::Conversation& final_state, bool was_waiting);
  std::string display_name(const std::string& agent) const;

  // ---- transfer records (hub_transfer.cpp) ----
  void load_transfers();
  // One step at a time per record: `f` runs on the strand once no other step of
  // `record_id` holds the lease, and the lease is held until the Lease it is given
  // (and every copy) is gone, wherever that happens.
  using Lease = std::shared_ptr<void>;
  void exclusive(const std::string& record_id, std::function<void(Lease)> f);
  Lease lease_of(const std::string& record_id);
  void release(const std::string& record_id);
  // What a step may have to undo if its write fails.
  struct Undo {
    std::string record_id;
    std::optional<core::Transfer> record;           // as tracked before; nullopt: not tracked
    std::string conversation_id;                    // "" when the step does not touch one
    std::optional<core::Conversation> conversation;  // as live before; nullopt: not live
  };
  Undo undo_for(const std::string& record_id, const std::string& conversation_id) const;
  void undo(const Undo& u);
  // Stores a step: `t` (the record's new state) with `w`. `t` is tracked at once
  // (track()), the caller has already changed the desk as `w` says. Once stored,
  // w's events are published and its outbox rows handed to the outbox; on failure
  // `u` is undone. Then `then` runs on the strand with the outcome.
  void store_step(const Undo& u, core::Transfer t, core::Write w, std::function<void(core::Status)> then);
  // Keeps `t` in memory with its timer if it is open or has a deadline; forgets it otherwise.
  void track(const core::Transfer& t);
  const core::Transfer* tracked(const std::string& id) const;
  // The open record of a conversation (any kind), if any.
  const core::Transfer* open_transfer_of(const std::string& conversation_id) const;
  void arm_transfer_timer(const std::string& id);
  void on_transfer_deadline(const std::string& id);
  // The conversation, if `from` owns it, it is active, and no transfer of it is open.
  core::Result<core::Conversation*> transferable(const Actor& from, const std::string& conversation_id);
  // Whether `to_agent` can be offered a conversation by `from` now.
  core::Status check_target(const Actor& from, const std::string& to_agent) const;
  core::Event agent_note(const std::string& agent, std::string text) const;
  core::Event system_event_of(core::EventKind kind, const std::string& agent, const std::string& text) const;
  core::Transfer new_transfer(core::TransferKind kind, const core::Conversation& c, const Actor& from,
                              std::string note, core::Millis timeout_ms);
  // Counts a transfer that just reached a final state (for /metrics).
  void count_transfer(const core::Transfer& t);
  // Tells the agents concerned: the sender and the target (or, at the destination
  // of a peer transfer, whoever has the conversation here, or `here` when it has
  // ended), and the conversation's news to those who see it.
  void announce_transfer(const core::Transfer& t, const std::string& here = {});
  // Ends a local transfer in `state`: the conversation returns to its sender when
  // the state means the transfer did not happen. Stored, then announced.
  void end_local(const std::string& id, core::TransferState state, const std::string& reason,
                 Callback<core::Transfer> done);
  // Stages what taking the conversation back from a transfer that did not happen
  // means: transferring -> active with its sender, back in line if the sender is
  // offline meanwhile; a system event for the visitor when `message` is set.
  void take_back_staged(core::Conversation& c, const std::string& message, core::Write& w);

  // ---- federation: both sides (hub_federation.cpp) ----
  core::OutboxItem outbox_row(const core::Transfer& t, core::PeerAction action, std::string body, int max_rounds) const;
  // Sends a due outbox row (PeerOutbox::Send), and hands its answer, under the
  // record's lease, to the side it belongs to. The row may be sent again once the
  // Lease the handler is given is gone.
  void send_row(const core::OutboxItem& row, std::uint64_t generation);
  void post_row(const core::OutboxItem& row, std::uint64_t generation, const std::string& path, std::string body);
  void on_row_answer(const core::OutboxItem& row, std::uint64_t generation, core::Result<federation::PeerReply> r);
  // A round that got no answer: the row is stored again, due after a pause. False
  // (and nothing done) when the row has had its rounds.
  bool retry_row(const core::OutboxItem& row, Lease lease);
  // A row is done: deleted from the store (alone), then forgotten.
  void drop_row(const std::string& id, Lease lease);
  core::Millis backoff(int rounds);
  std::string people_name(const std::string& peer) const;
  FedReply fed_error(int status, std::string_view code, std::string_view message) const;
  FedReply fed_ok(std::string body) const;
  std::string code_of(std::string_view purpose, const core::Transfer& t, std::string_view nonce) const;
  // ---- origin side (hub_origin.cpp) ----
  void peer_offer_with_hops(const Actor& from, const std::string& conversation_id, const std::string& peer,
                            int hops, Callback<core::Transfer> done);
  void send_context(const Actor& from, const std::string& transfer_id, std::string queue, std::string note,
                    std::vector<core::Event> events, Lease lease, Callback<core::Transfer> done);
  void offer_answered(const core::OutboxItem& row, core::Result<federation::PeerReply> r, Lease lease);
  void context_answered(const core::OutboxItem& row, core::Result<federation::PeerReply> r, Lease lease);
  void cancel_answered(const core::OutboxItem& row, core::Result<federation::PeerReply> r, Lease lease);
  // The origin's record ends without the visitor going: failed, cancelled or expired,
  // and the visitor is back with its agent. `cancel_rounds` > 0: a cancel goes to
  // the peer, tried that many rounds (0: never given up; -1: none is sent).
  void end_out(const std::string& id, core::TransferState state, const std::string& reason, int cancel_rounds,
               Lease lease, Callback<core::Transfer> then = {});
  // moving -> reclaiming: asks the peer to call it off; `overdue`: the deadline passed.
  void reclaim_out(const std::string& id, bool overdue, Lease lease, Callback<core::Transfer> then = {});
  // The visitor is at the destination: completed, the conversation transferred.
  void complete_out(const std::string& id, Lease lease, Callback<core::Transfer> then);
  void out_deadline(const std::string& id, Lease lease);
  void fed_arrived(const PeerSettings& peer, const std::string& transfer_id, std::function<void(FedReply)> done);
  void fed_expired(const PeerSettings& peer, const std::string& transfer_id, std::function<void(FedReply)> done);
  void fed_recall(const PeerSettings& peer, const std::string& transfer_id, std::string body,
                  std::function<void(FedReply)> done);
  // The answer to an arrival notice for a completed record: what the visitor wrote here late.
  void reply_arrived(const core::Transfer& t, std::function<void(FedReply)> done);
  void send_move(const core::Conversation& c, const core::Transfer& t);
  // ---- destination side (hub_destination.cpp) ----
  void fed_offer(const PeerSettings& peer, std::string body, std::function<void(FedReply)> done);
  void fed_context(const PeerSettings& peer, const std::string& transfer_id, std::string body,
                   std::function<void(FedReply)> done);
  void fed_cancel(const PeerSettings& peer, const std::string& transfer_id, std::function<void(FedReply)> done);
  void in_deadline(const std::string& id, Lease lease);
  // Asks the origin to take the visitor back (completed -> recalling, a recall row).
  void recall_record(core::Transfer t, Lease lease, Callback<core::Transfer> done);
  // A notice's answer: retried when there is none; otherwise `then` gets the record
  // as stored (a row whose record is gone is dropped).
  void answered_with_record(const core::OutboxItem& row, core::Result<federation::PeerReply> r, Lease lease,
                            std::function<void(const core::Transfer&, federation::PeerReply)> then);
  void arrived_answered(const core::OutboxItem& row, core::Result<federation::PeerReply> r, Lease lease);
  void expired_answered(const core::OutboxItem& row, core::Result<federation::PeerReply> r, Lease lease);
  void recall_answered(const core::OutboxItem& row, core::Result<federation::PeerReply> r, Lease lease);
  // The destination lets the visitor go (recalled, or kept by the origin): its
  // conversation ends and its page is sent to `url`.
  void let_go(core::Transfer t, core::TransferState state, const std::string& reason, std::string url,
              core::Write w, Lease lease);
  // A page of a conversation this server let go (recalled, or kept by the origin)
  // is sent where the visitor is now, from the stored record.
  void send_return(const std::string& conversation_id);

  federation::PeerLink* peer_link_ = nullptr;
  std::unique_ptr<PeerOutbox> outbox_;
  std::vector<core::OutboxItem> loaded_rows_;  // read by load(), handed to the outbox by enable_federation()
  // Recall rows: the last seq of the holding conversation the latest send carried.
  std::unordered_map<std::string, std::int64_t> recall_covered_;
  const Site* find_site(const std::string& name) const;

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  core::Store& store_;
  core::Clock& clock_;
  core::Random& random_;
  boost::asio::any_io_executor blocking_;
  Timers& timers_;
  const Settings& settings_;
  // Reset first when the hub goes: callbacks holding a weak copy then do nothing.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  core::Desk desk_;
  std::unordered_map<std::string, std::vector<LiveSub>> subs_;
  std::map<std::string, AgentLink, std::less<>> agent_links_;
  HubCounters counters_;
  // notify_activity: when each conversation's last activity summary went out (only
  // those within the interval), and those whose next one waits for the timer.
  std::unordered_map<std::string, core::Millis> summary_sent_;
  std::set<std::string> summary_due_;
  std::unique_ptr<Timer> summary_timer_;
  core::Millis summary_timer_at_ = 0;
  std::unordered_map<std::string, Tracked> transfers_;  // by id
  // Records whose lease is held, each with the steps waiting for it.
  std::unordered_map<std::string, std::deque<std::function<void(Lease)>>> leases_;
  // Hop counts of conversations that came from a partner (a cache of their inbound records).
  std::unordered_map<std::string, int> hop_counts_;
};

template <typename F, typename Then>
void Hub::off_strand(F&& f, Then&& then) {
  boost::asio::post(blocking_, [this, alive = std::weak_ptr<int>(alive_), f = std::forward<F>(f),
                                then = std::forward<Then>(then)]() mutable {
    if (alive.expired()) return;
    auto result = f();
    run([alive, result = std::move(result), then = std::move(then)]() mutable {
      if (!alive.expired()) then(std::move(result));
    });
  });
}

}  // namespace baton::api
