// The hub: one organization's live desk. It owns the core::Desk, assigns
// sequence numbers, writes every change through the store, and fans events out
// to subscribed clients after they are durable.
//
// Threads: every public method may be called from any thread; the work runs on
// the hub's strand, store reads on the blocking pool, and callbacks are invoked
// on the hub's strand (callers hop back to their own executor if they need to).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/settings.hpp"
#include "core/desk.hpp"
#include "core/store.hpp"
#include "core/transfer.hpp"
#include "federation/peer_client.hpp"

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

  // `store`, `clock`, `random`, `blocking` and `settings` must outlive the hub.
  Hub(boost::asio::any_io_executor executor, core::Store& store, core::Clock& clock,
      core::Random& random, boost::asio::thread_pool& blocking, const Settings& settings);
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
  // REQUIRES before use: enable_federation. `client` and `pool` must outlive the hub.
  void enable_federation(federation::PeerClient& client, boost::asio::thread_pool& pool);
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
  // The way back from the transfer page: the visitor stays; the peer is told. Gives the site.
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
  // A verified server-to-server request: `peer` owns the key that signed it.
  struct FedReply {
    int status = 200;
    boost::json::object body;
  };
  void on_federation(const std::string& peer, const std::string& action, const std::string& transfer_id,
                     boost::json::object body, std::function<void(FedReply)> done);
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
  boost::asio::thread_pool& blocking() { return blocking_; }
  core::Store& store() { return store_; }

 private:
  struct LiveSub {
    std::weak_ptr<Subscriber> sub;
    const Subscriber* key;
    bool agent;  // sees notes
  };
  struct OpenTransfer {
    core::Transfer transfer;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };
  struct AgentLink {
    std::vector<std::pair<const Subscriber*, std::weak_ptr<Subscriber>>> subs;
    std::unique_ptr<boost::asio::steady_timer> offline_timer;
    core::Millis signed_out_at = 0;  // a sign-out just now: no grace when the last console closes
  };
  void offline_after(const std::string& agent, core::Millis grace);

  template <typename F>
  void run(F&& f) {
    boost::asio::post(strand_, std::forward<F>(f));
  }
  core::Status can_read(const Actor& a, const core::Conversation& c) const;
  core::Status can_act(const Actor& a, const core::Conversation& c) const;
  // Stores `e` (seq assigned here) with the conversation's snapshot, then publishes it.
  // `activity_only`: nothing but what appending changes (last_seq, last_message,
  // updated_at) changed in `c` since it was last written (core::Write::activity_only).
  void append(core::Conversation& c, core::Event e, Callback<Ack> done, bool activity_only = false);
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
  static constexpr auto kActivitySummaryInterval = std::chrono::milliseconds(500);
  void notify_queues();
  void send_to_agent(const std::string& agent, std::shared_ptr<const std::string> payload);
  void finish(const std::string& id, core::ConversationState state, const std::string& reason,
              const Actor& by, Callback<core::Ok> done);
  std::string display_name(const std::string& agent) const;
  // Transfers (hub_transfer.cpp).
  void load_transfers();
  // The conversation, if `from` owns it, it is active, and no transfer of it is open.
  core::Result<core::Conversation*> transferable(const Actor& from, const std::string& conversation_id);
  // Whether `to_agent` can be offered a conversation by `from` now.
  core::Status check_target(const Actor& from, const std::string& to_agent) const;
  void agent_note(core::Conversation& c, const std::string& agent, std::string text);
  core::Transfer new_transfer(core::TransferKind kind, const core::Conversation& c, const Actor& from,
                              std::string note, core::Millis timeout_ms);
  // Keeps `t` among the open transfers, stores it, and starts its deadline.
  void open_transfer(const core::Transfer& t);
  // Stores `t`; `then` runs on the strand once the write is done (stored or not).
  void save_transfer(const core::Transfer& t, std::function<void()> then = {});
  // Counts a transfer that just reached a final state (for /metrics).
  void count_transfer(const core::Transfer& t);
  void arm_transfer_timer(const std::string& id);
  void on_transfer_deadline(const std::string& id);
  // Ends an open transfer in `state`; returns the conversation to its sender when the
  // state means the transfer did not happen.
  void end_transfer(const std::string& id, core::TransferState state, const std::string& reason);
  void announce_transfer(const core::Transfer& t);
  void system_event(core::Conversation& c, core::EventKind kind, const std::string& agent,
                    const std::string& text);
  OpenTransfer* open_transfer_of(const std::string& conversation_id);
  // Federation internals (hub_federation.cpp).
  void peer_call(const std::string& peer, const std::string& path, boost::json::object body,
                 std::function<void(core::Result<federation::PeerReply>)> on_strand);
  std::string derive_code(std::string_view purpose, std::string_view id) const;
  void fed_offer(const PeerSettings& peer, const std::string& transfer_id, const boost::json::object& body,
                 std::function<void(FedReply)> done);
  void fed_context(const PeerSettings& peer, const std::string& transfer_id, const boost::json::object& body,
                   std::function<void(FedReply)> done);
  void fed_cancel(const PeerSettings& peer, const std::string& transfer_id, std::function<void(FedReply)> done);
  void fed_outcome(const PeerSettings& peer, const std::string& action, const std::string& transfer_id,
                   const boost::json::object& body, std::function<void(FedReply)> done);
  void notify_origin(const core::Transfer& inbound, const std::string& action, int attempt = 0);
  void visitor_back_with_sender(core::Conversation& c, const std::string& message);
  void send_move(const core::Conversation& c, const core::Transfer& t);
  void send_bounce(const std::string& conversation_id);
  // Destination: the origin has not yet confirmed hearing that the visitor arrived.
  // Kept durable in the record (detail "notify", a non-zero deadline so that it is
  // reloaded), and resumed after a restart (DESIGN.md §2.4: a crash between the
  // arrival and the notice must not leave the visitor with two owners).
  void notice_settled(const std::string& inbound_id);
  std::unordered_map<std::string, core::Transfer> unsettled_notices_;
  // Destination: conversations whose visitor the origin kept; their page is sent back there.
  std::unordered_map<std::string, std::string> bounced_;
  federation::PeerClient* peer_client_ = nullptr;
  boost::asio::thread_pool* peer_pool_ = nullptr;
  const Site* find_site(const std::string& name) const;

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  core::Store& store_;
  core::Clock& clock_;
  core::Random& random_;
  boost::asio::thread_pool& blocking_;
  const Settings& settings_;
  core::Desk desk_;
  // Highest seq stored and published per live conversation.
  std::unordered_map<std::string, std::int64_t> committed_;
  std::unordered_map<std::string, std::vector<LiveSub>> subs_;
  std::map<std::string, AgentLink, std::less<>> agent_links_;
  HubCounters counters_;
  // notify_activity: when each conversation's last activity summary went out (only
  // those within the interval), and those whose next one waits for the timer.
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> summary_sent_;
  std::set<std::string> summary_due_;
  std::unique_ptr<boost::asio::steady_timer> summary_timer_;
  std::unordered_map<std::string, OpenTransfer> transfers_;  // open ones, by id
  // Hop counts of conversations that came from a partner (in memory; see docs/federation.md).
  std::unordered_map<std::string, int> hop_counts_;
};

}  // namespace baton::api
