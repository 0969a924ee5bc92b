#include "baton/api/hub.hpp"

#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "json.hpp"
#include "baton/core/text.hpp"
#include "baton/federation/tokens.hpp"

namespace baton::api {

namespace net = boost::asio;
namespace json = boost::json;
using core::Errc;
using core::Error;

namespace {
constexpr std::size_t kBackfillPage = 500;
constexpr std::size_t kSnapshotLimit = 200;

std::shared_ptr<const std::string> to_payload(const json::object& o) {
  return std::make_shared<const std::string>(json::serialize(o));
}

bool serves(const core::AgentState& a, const std::string& queue) {
  const auto& qs = a.profile.queues;
  return std::find(qs.begin(), qs.end(), queue) != qs.end();
}
}  // namespace

Hub::Hub(net::any_io_executor executor, core::Store& store, core::Clock& clock, core::Random& random,
         net::any_io_executor blocking, Timers& timers, const Settings& settings)
    : strand_(net::make_strand(executor)), store_(store), clock_(clock), random_(random),
      blocking_(std::move(blocking)), timers_(timers), settings_(settings) {}

Hub::~Hub() { alive_.reset(); }


core::Status Hub::load() {
  core::Millis now = clock_.now();
  for (const auto& q : settings_.queues) desk_.add_queue(q);
  for (const auto& a : settings_.agents) desk_.upsert_agent(a.profile, now);
  auto live = store_.load_live();
  if (!live) return live.error();
  for (auto& c : *live) {
    if (!desk_.has_queue(c.queue)) {
      spdlog::warn("conversation {} waits in queue '{}' which is no longer configured; moving it to '{}'",
                   c.id, c.queue, settings_.queues.front());
      c.queue = settings_.queues.front();
    }
    // A holding conversation for a visitor on the way from a partner has no agent yet.
    bool holding = c.state == core::ConversationState::transferring && c.agent.empty();
    if (c.state != core::ConversationState::waiting && !holding && !desk_.agent(c.agent)) {
      // Its agent was removed from the configuration: back to the queue.
      c.state = core::ConversationState::waiting;
      c.agent.clear();
      c.waiting_since = now;
    }
    std::string id = c.id;
    if (auto st = desk_.add(std::move(c)); !st) spdlog::warn("conversation {}: {}", id, st.error().message);
  }
  load_transfers();
  auto rows = store_.outbox();
  if (!rows) return rows.error();
  loaded_rows_ = std::move(*rows);
  spdlog::info("loaded {} live conversations, {} transfers under way and {} requests to partners",
               desk_.live().size(), transfers_.size(), loaded_rows_.size());
  return core::ok_status();
}

const Site* Hub::find_site(const std::string& name) const {
  for (const auto& s : settings_.sites)
    if (s.name == name) return &s;
  return nullptr;
}

std::string Hub::display_name(const std::string& agent) const {
  const auto* a = desk_.agent(agent);
  return a ? a->profile.display_name : agent;
}

void Hub::availability(const std::string& site, Callback<Availability> done) {
  run([this, site, done = std::move(done)] {
    const Site* s = find_site(site);
    if (!s) return done(Error{Errc::not_found, "unknown site: " + site});
    Availability a;
    a.queue = s->queue;
    a.online = desk_.queue_has_online_agent(s->queue);
    a.waiting = desk_.waiting_count(s->queue);
    a.longest_wait_ms = desk_.longest_wait(s->queue, clock_.now());
    done(a);
  });
}

void Hub::create(NewConversation nc, Callback<Created> done) {
  run([this, nc = std::move(nc), done = std::move(done)]() mutable {
    const Site* site = find_site(nc.site);
    if (!site) return done(Error{Errc::not_found, "unknown site: " + nc.site});
    if (!nc.first_message.empty()) {
      if (auto st = core::check_text(nc.first_message, settings_.max_message_bytes, "text"); !st)
        return done(st.error());
    }
    core::Millis now = clock_.now();
    Created out;
    out.token = random_.token(32);
    core::Conversation& c = out.conversation;
    c.id = "c" + random_.hex(12);
    c.site = site->name;
    c.queue = site->queue;
    c.state = core::ConversationState::waiting;
    c.visitor = std::move(nc.visitor);
    c.visitor_token_hash = federation::hash_token(out.token);
    c.created_at = c.waiting_since = c.updated_at = now;
    c.offline = nc.offline;
    // Stored first, then on the desk: a conversation whose write failed never
    // reaches a queue, an agent or a later write.
    core::Write w;
    if (!nc.first_message.empty()) {
      core::Event e;
      e.kind = core::EventKind::message;
      e.author_kind = core::AuthorKind::visitor;
      e.author_name = c.visitor.name;
      e.client_id = nc.client_id;
      e.text = std::move(nc.first_message);
      w.event = stage(c, std::move(e));
    }
    w.conversation = c;
    auto kept = std::make_shared<core::Write>(w);
    store_.write(std::move(w), [this, alive = std::weak_ptr<int>(alive_), kept, out = std::move(out), done = std::move(done)](
                                   core::Result<core::WriteResult> r) mutable {
      if (alive.expired()) return;
      run([this, kept, r = std::move(r), out = std::move(out), done = std::move(done)]() mutable {
        if (!r) {
          ++counters_.store_errors_total;
          spdlog::error("store: {}", r.error().message);
          return done(Error{Errc::unavailable, "could not store the conversation; try again"});
        }
        if (auto st = desk_.add(out.conversation); !st) return done(st.error());
        ++counters_.conversations_created_total;
        out.first_seq = kept->event ? kept->event->seq : 0;
        published(*kept, *r);
        const core::Conversation* live = desk_.find(out.conversation.id);
        notify_agents(*live);
        route();
        after_queue_change(live->queue);
        if (const auto* now_live = desk_.find(out.conversation.id)) out.conversation = *now_live;
        done(std::move(out));
      });
    });
  });
}

void Hub::authenticate_visitor(const std::string& conversation_id, const std::string& token,
                               Callback<core::Conversation> done) {
  std::string hash = federation::hash_token(token);
  auto check = [hash, done](const core::Conversation& c) {
    if (!federation::equal_secret(c.visitor_token_hash, hash))
      return done(Error{Errc::forbidden, "this token does not open this conversation"});
    done(c);
  };
  run([this, conversation_id, check = std::move(check), done]() mutable {
    if (const auto* c = desk_.find(conversation_id)) return check(*c);
    net::post(blocking_, [this, conversation_id, check = std::move(check), done]() mutable {
      auto r = store_.conversation(conversation_id);
      run([r = std::move(r), check = std::move(check), done] {
        if (!r) return done(r.error());
        if (!*r) return done(Error{Errc::not_found, "no such conversation"});
        check(**r);
      });
    });
  });
}

core::Status Hub::can_read(const Actor& a, const core::Conversation& c) const {
  if (a.kind == core::AuthorKind::visitor) {
    if (a.conversation == c.id) return core::ok_status();
    return Error{Errc::forbidden, "visitors may only read their own conversation"};
  }
  if (c.agent == a.agent || (!c.consultant.empty() && c.consultant == a.agent)) return core::ok_status();
  const auto* agent = desk_.agent(a.agent);
  if (agent && serves(*agent, c.queue)) return core::ok_status();
  // The agent offered a transfer may look before answering.
  for (const auto& [id, tracked] : transfers_) {
    const auto& t = tracked.transfer;
    if (t.conversation_id == c.id && t.to_agent == a.agent && core::is_open(t.state)) return core::ok_status();
  }
  return Error{Errc::forbidden, "this conversation is not yours nor in your queues"};
}

core::Status Hub::can_act(const Actor& a, const core::Conversation& c) const {
  if (core::is_terminal(c.state)) return Error{Errc::conflict, "the conversation is closed"};
  if (a.kind == core::AuthorKind::visitor) return can_read(a, c);
  bool owned = c.state == core::ConversationState::active || c.state == core::ConversationState::transferring;
  if (owned && (c.agent == a.agent || (c.consultant_joined && c.consultant == a.agent))) return core::ok_status();
  return Error{Errc::forbidden, "this conversation is not yours"};
}

core::Event Hub::stage(core::Conversation& c, core::Event e) {
  core::Millis now = clock_.now();
  e.conversation_id = c.id;
  e.seq = ++c.last_seq;
  e.at = now;
  c.updated_at = now;
  if (e.kind == core::EventKind::message) c.last_message = core::utf8_prefix(e.text, core::kPreviewBytes);
  return e;
}

void Hub::append(core::Conversation& c, core::Event e, Callback<Ack> done, bool activity_only) {
  e = stage(c, std::move(e));
  core::Write w;
  w.event = e;
  w.conversation = c;
  w.activity_only = activity_only;
  store_.write(std::move(w), [this, alive = std::weak_ptr<int>(alive_), e = std::move(e), done = std::move(done)](
                                 core::Result<core::WriteResult> r) mutable {
    if (alive.expired()) return;
    run([this, e = std::move(e), r = std::move(r), done = std::move(done)] {
      if (!r) {
        ++counters_.store_errors_total;
        spdlog::error("store: {}", r.error().message);
        if (done) done(Error{Errc::unavailable, "could not store the message; try again"});
        return;
      }
      if (r->duplicate) {
        if (done) done(Ack{r->seq, true});
        return;
      }
      core::Write stored;
      stored.event = e;
      published(stored);
      if (done) done(Ack{e.seq, false});
    });
  });
}

void Hub::published(const core::Write& w, const core::WriteResult& result) {
  auto one = [this](const core::Event& e) {
    if (e.kind == core::EventKind::message) ++counters_.messages_total;
    if (e.kind == core::EventKind::note) ++counters_.notes_total;
    publish(e);
    if (e.kind == core::EventKind::message || e.kind == core::EventKind::note) {
      if (const auto* c = desk_.find(e.conversation_id)) notify_activity(*c);
    }
  };
  if (w.event && !result.duplicate) one(*w.event);
  for (std::size_t i = 0; i < w.more_events.size(); ++i)
    if (std::find(result.skipped.begin(), result.skipped.end(), i) == result.skipped.end()) one(w.more_events[i]);
}

void Hub::publish(const core::Event& e) {
  auto it = subs_.find(e.conversation_id);
  if (it == subs_.end()) return;
  auto payload = to_payload(event_json(e));
  bool note = !core::visible_to_visitor(e);
  auto& list = it->second;
  for (auto s = list.begin(); s != list.end();) {
    auto sub = s->sub.lock();
    if (!sub) {
      s = list.erase(s);
      continue;
    }
    if (!note || s->agent) sub->deliver(e.conversation_id, e.seq, payload);
    ++s;
  }
  if (list.empty()) subs_.erase(it);
}

void Hub::post(const Actor& actor, const std::string& conversation_id, core::EventKind kind,
               std::string client_id, std::string text, Callback<Ack> done) {
  run([this, actor, conversation_id, kind, client_id = std::move(client_id), text = std::move(text),
       done = std::move(done)]() mutable {
    if (client_id.size() > core::kMaxClientIdBytes)
      return done(Error{Errc::too_large, "client_id is longer than 64 bytes"});
    if (auto st = core::check_text(text, settings_.max_message_bytes, "text"); !st) return done(st.error());
    core::Conversation* c = desk_.find(conversation_id);
    if (!c) {
      if (actor.kind == core::AuthorKind::visitor && actor.conversation == conversation_id)
        return done(Error{Errc::conflict, "the conversation is closed"});
      return done(Error{Errc::not_found, "no open conversation with this id"});
    }
    if (kind == core::EventKind::note) {
      if (actor.kind != core::AuthorKind::agent) return done(Error{Errc::forbidden, "only agents write notes"});
      if (auto st = can_read(actor, *c); !st) return done(st.error());
    } else if (auto st = can_act(actor, *c); !st) {
      return done(st.error());
    }
    core::Event e;
    e.kind = kind;
    e.author_kind = actor.kind;
    e.author_id = actor.agent;
    e.author_name = actor.kind == core::AuthorKind::agent ? display_name(actor.agent) : c->visitor.name;
    e.client_id = std::move(client_id);
    e.text = std::move(text);
    append(*c, std::move(e), std::move(done), true);
  });
}

void Hub::finish(const std::string& id, core::ConversationState state, const std::string& reason,
                 const Actor& by, Callback<core::Ok> done) {
  core::Conversation* c = desk_.find(id);
  if (!c) {
    if (done) done(Error{Errc::conflict, "the conversation is already closed"});
    return;
  }
  bool was_waiting = c->state == core::ConversationState::waiting;
  std::string queue = c->queue;
  auto ended = desk_.finish(id, state, reason, clock_.now());
  if (!ended) {
    if (done) done(ended.error());
    return;
  }
  ++counters_.conversations_closed_total;
  hop_counts_.erase(id);
  core::Event e;
  e.kind = core::EventKind::closed;
  e.author_kind = by.kind;
  e.author_id = by.agent;
  e.author_name = by.kind == core::AuthorKind::agent ? display_name(by.agent) : by.display_name;
  e.text = reason;
  core::Conversation final_state = std::move(*ended);
  append(final_state, std::move(e), [done](core::Result<Ack> r) {
    if (!done) return;
    if (!r) return done(r.error());
    done(core::Ok{});
  });
  notify_agents(final_state);
  route();
  if (was_waiting) after_queue_change(queue);
}

bool Hub::finish_staged(const std::string& id, core::ConversationState state, const std::string& reason,
                        core::Write& w) {
  if (!desk_.find(id)) return false;
  auto ended = desk_.finish(id, state, reason, clock_.now());
  if (!ended) {
    spdlog::error("conversation {}: {}", id, ended.error().message);
    return false;
  }
  core::Event e;
  e.kind = core::EventKind::closed;
  e.author_kind = core::AuthorKind::system;
  e.text = reason;
  core::Conversation final_state = std::move(*ended);
  core::Event closed = stage(final_state, std::move(e));
  if (w.event) w.more_events.push_back(std::move(closed));
  else w.event = std::move(closed);
  w.conversation = std::move(final_state);
  return true;
}

void Hub::after_finish(const core::Conversation& final_state, bool was_waiting) {
  ++counters_.conversations_closed_total;
  hop_counts_.erase(final_state.id);
  notify_agents(final_state);
  route();
  if (was_waiting) after_queue_change(final_state.queue);
}

void Hub::close(const Actor& actor, const std::string& conversation_id, Callback<core::Ok> done) {
  run([this, actor, conversation_id, done = std::move(done)] {
    core::Conversation* c = desk_.find(conversation_id);
    if (!c) {
      if (actor.kind == core::AuthorKind::visitor && actor.conversation == conversation_id)
        return done(Error{Errc::conflict, "the conversation is already closed"});
      return done(Error{Errc::not_found, "no open conversation with this id"});
    }
    if (auto st = can_act(actor, *c); !st) return done(st.error());
    std::string reason = actor.kind == core::AuthorKind::visitor
                             ? "The visitor ended the chat."
                             : display_name(actor.agent) + " closed the conversation.";
    finish(conversation_id, core::ConversationState::closed, reason, actor, done);
  });
}

void Hub::typing(const Actor& actor, const std::string& conversation_id, bool on) {
  run([this, actor, conversation_id, on] {
    core::Conversation* c = desk_.find(conversation_id);
    if (!c || !can_act(actor, *c)) return;
    auto it = subs_.find(conversation_id);
    if (it == subs_.end()) return;
    json::object o;
    o["type"] = "typing";
    o["conversation"] = conversation_id;
    json::object who;
    who["kind"] = core::author_kind_name(actor.kind);
    who["name"] = actor.kind == core::AuthorKind::agent ? display_name(actor.agent) : c->visitor.name;
    if (!actor.agent.empty()) who["id"] = actor.agent;
    o["who"] = std::move(who);
    o["on"] = on;
    auto payload = to_payload(o);
    for (const auto& s : it->second) {
      if (auto sub = s.sub.lock()) sub->deliver(conversation_id, 0, payload);
    }
  });
}

void Hub::claim(const std::string& agent, const std::string& conversation_id, Callback<core::Ok> done) {
  run([this, agent, conversation_id, done = std::move(done)] {
    core::Conversation* c = desk_.find(conversation_id);
    if (!c) return done(Error{Errc::not_found, "no open conversation with this id"});
    std::string queue = c->queue;
    if (auto st = desk_.claim(conversation_id, agent, clock_.now()); !st) return done(st.error());
    core::Event e;
    e.kind = core::EventKind::joined;
    e.author_kind = core::AuthorKind::agent;
    e.author_id = agent;
    e.author_name = display_name(agent);
    e.text = e.author_name + " joined the conversation.";
    append(*c, std::move(e), nullptr);
    notify_agents(*c);
    after_queue_change(queue);
    done(core::Ok{});
  });
}

void Hub::route() {
  auto assignments = desk_.route(clock_.now());
  std::set<std::string> queues;
  for (const auto& as : assignments) {
    core::Conversation* c = desk_.find(as.conversation_id);
    if (!c) continue;
    queues.insert(c->queue);
    core::Event e;
    e.kind = core::EventKind::joined;
    e.author_kind = core::AuthorKind::agent;
    e.author_id = as.agent;
    e.author_name = display_name(as.agent);
    e.text = e.author_name + " joined the conversation.";
    append(*c, std::move(e), nullptr);
    notify_agents(*c);
  }
  for (const auto& q : queues) after_queue_change(q);
}

void Hub::after_queue_change(const std::string& queue) {
  const auto& ids = desk_.waiting_ids(queue);
  bool online = desk_.queue_has_online_agent(queue);
  std::size_t place = 0;
  for (const auto& id : ids) {
    ++place;
    auto it = subs_.find(id);
    if (it == subs_.end()) continue;
    json::object o;
    o["type"] = "position";
    o["conversation"] = id;
    o["place"] = place;
    o["waiting"] = ids.size();
    o["online"] = online;
    auto payload = to_payload(o);
    for (const auto& s : it->second) {
      if (s.agent) continue;
      if (auto sub = s.sub.lock()) sub->deliver(id, 0, payload);
    }
  }
  notify_queues();
}

void Hub::notify_queues() {
  if (agent_links_.empty()) return;
  json::array qs;
  core::Millis now = clock_.now();
  for (const auto& q : desk_.queues()) {
    json::object o;
    o["name"] = q;
    o["waiting"] = desk_.waiting_count(q);
    o["longest_wait_ms"] = desk_.longest_wait(q, now);
    o["online"] = desk_.queue_has_online_agent(q);
    qs.push_back(std::move(o));
  }
  json::object msg;
  msg["type"] = "queues";
  msg["queues"] = std::move(qs);
  auto payload = to_payload(msg);
  for (const auto& [name, link] : agent_links_) send_to_agent(name, payload);
}

void Hub::send_to_agent(const std::string& agent, std::shared_ptr<const std::string> payload) {
  auto it = agent_links_.find(agent);
  if (it == agent_links_.end()) return;
  for (const auto& [key, weak] : it->second.subs) {
    if (auto sub = weak.lock()) sub->deliver({}, 0, payload);
  }
}

void Hub::send_to_visitor(const std::string& conversation_id, std::shared_ptr<const std::string> payload) {
  auto it = subs_.find(conversation_id);
  if (it == subs_.end()) return;
  for (const auto& s : it->second) {
    if (s.agent) continue;
    if (auto sub = s.sub.lock()) sub->deliver(conversation_id, 0, payload);
  }
}

void Hub::notify_agents(const core::Conversation& c, const std::string& previous_agent) {
  if (agent_links_.empty()) return;
  json::object msg;
  msg["type"] = "conversation";
  msg["conversation"] = summary_json(c, desk_.place_in_line(c.id));
  auto payload = to_payload(msg);
  for (const auto& [name, link] : agent_links_) {
    const auto* a = desk_.agent(name);
    bool owner = name == c.agent || name == previous_agent;
    bool queue_view = a && serves(*a, c.queue);
    if (owner || queue_view) send_to_agent(name, payload);
  }
}

void Hub::notify_activity(const core::Conversation& c) {
  if (agent_links_.empty()) return;
  const core::Millis now = clock_.now();
  auto [it, first] = summary_sent_.try_emplace(c.id, now);
  if (first || now - it->second >= kActivitySummaryMs) {
    it->second = now;
    summary_due_.erase(c.id);
    notify_agents(c);
  } else {
    summary_due_.insert(c.id);
  }
  if (!summary_timer_) summary_timer_ = timers_.make(strand_);
  if (summary_timer_at_ == 0) {
    summary_timer_at_ = now + kActivitySummaryMs;
    summary_timer_->wait_until(summary_timer_at_, [this] {
      summary_timer_at_ = 0;
      send_due_summaries();
    });
  }
}

void Hub::send_due_summaries() {
  const core::Millis now = clock_.now();
  core::Millis next = 0;
  for (auto it = summary_sent_.begin(); it != summary_sent_.end();) {
    const auto& id = it->first;
    if (now - it->second < kActivitySummaryMs) {
      core::Millis at = it->second + kActivitySummaryMs;
      next = next == 0 ? at : std::min(next, at);
      ++it;
      continue;
    }
    if (summary_due_.erase(id) != 0) {
      if (const auto* c = desk_.find(id)) {
        // Sent now: the next message within the interval waits again.
        it->second = now;
        core::Millis at = now + kActivitySummaryMs;
        next = next == 0 ? at : std::min(next, at);
        notify_agents(*c);
        ++it;
        continue;
      }
    }
    it = summary_sent_.erase(it);  // quiet for a whole interval: forgotten
  }
  if (next == 0) return;
  summary_timer_at_ = next;
  summary_timer_->wait_until(next, [this] {
    summary_timer_at_ = 0;
    send_due_summaries();
  });
}

void Hub::release_conversations_of(const std::string& agent) {
  const auto* a = desk_.agent(agent);
  if (!a) return;
  std::vector<std::string> ids(a->conversations.begin(), a->conversations.end());
  core::Millis now = clock_.now();
  for (const auto& id : ids) {
    core::Conversation* c = desk_.find(id);
    if (!c) continue;
    if (const core::Transfer* open = open_transfer_of(id); open && open->kind == core::TransferKind::consult) {
      // Mid-consult: a consultant already with the visitor takes over; otherwise the
      // consult ends and the visitor goes back to the queue below.
      std::string tid = open->id;
      if (c->consultant_joined) {
        consult_finish(Actor{core::AuthorKind::agent, agent, {}, {}}, tid, true, [](core::Result<core::Transfer>) {});
        continue;
      }
      exclusive(tid, [this, tid, agent](Lease lease) {
        end_local(tid, core::TransferState::cancelled, display_name(agent) + " went offline.",
                  [lease](core::Result<core::Transfer>) {});
      });
      continue;  // end_local requeues it, the sender being offline
    }
    if (c->state != core::ConversationState::active || open_transfer_of(id)) continue;
    if (!desk_.requeue(id, "", now)) continue;
    append(*c, system_event_of(core::EventKind::left, agent,
                               display_name(agent) + " is no longer available. You are back in the queue for the next agent."),
           nullptr);
    notify_agents(*c, agent);
    after_queue_change(c->queue);
  }
}

void Hub::set_status(const std::string& agent, core::AgentStatus status, Callback<core::Ok> done) {
  run([this, agent, status, done = std::move(done)] {
    if (!desk_.set_status(agent, status, clock_.now())) return done(Error{Errc::not_found, "no such agent"});
    // Offline means gone: nobody waits for an agent who is not there.
    if (status == core::AgentStatus::offline) release_conversations_of(agent);
    json::object o;
    o["type"] = "status";
    o["status"] = core::status_name(status);
    send_to_agent(agent, to_payload(o));
    route();
    if (const auto* a = desk_.agent(agent)) {
      for (const auto& q : a->profile.queues) after_queue_change(q);
    }
    done(core::Ok{});
  });
}

void Hub::subscribe(const Actor& actor, const std::string& conversation_id, std::int64_t after_seq,
                    std::shared_ptr<Subscriber> sub, Callback<core::Ok> done) {
  readable(actor, conversation_id,
           [this, actor, conversation_id, after_seq, sub = std::move(sub),
            done = std::move(done)](core::Result<core::Conversation> r) mutable {
             if (!r) return done(r.error());
             if (after_seq > r->last_seq) {
               return done(Error{Errc::bad_request, "after_seq " + std::to_string(after_seq) +
                                                        " is past the conversation's last event (" +
                                                        std::to_string(r->last_seq) + ")"});
             }
             auto& list = subs_[conversation_id];
             const Subscriber* key = sub.get();
             bool agent = actor.kind == core::AuthorKind::agent;
             if (std::none_of(list.begin(), list.end(), [key](const LiveSub& s) { return s.key == key; }))
               list.push_back({sub, key, agent});
             done(core::Ok{});
             // Registered first, read second: whatever commits meanwhile comes live, in the
             // backlog, or both; the subscriber drops the repeats.
             net::post(blocking_, [this, conversation_id, after_seq, agent, weak = std::weak_ptr(sub)] {
               std::int64_t from = after_seq;
               for (;;) {
                 auto page = store_.events(conversation_id, from, kBackfillPage, agent);
                 auto s = weak.lock();
                 if (!s) return;
                 if (!page) {
                   spdlog::error("backfill {}: {}", conversation_id, page.error().message);
                   s->backfill(conversation_id, {}, true);
                   return;
                 }
                 Subscriber::Batch batch;
                 batch.reserve(page->size());
                 for (const auto& e : *page) {
                   batch.emplace_back(e.seq, to_payload(event_json(e)));
                   from = e.seq;
                 }
                 bool last = page->size() < kBackfillPage;
                 s->backfill(conversation_id, std::move(batch), last);
                 if (last) return;
               }
             });
             if (!agent) {
               if (desk_.place_in_line(conversation_id) > 0) after_queue_change(r->queue);
               // A page that missed the move hears it again, until the join code runs out.
               const core::Transfer* open = open_transfer_of(conversation_id);
               if (open && open->kind == core::TransferKind::peer && open->direction == core::Direction::out &&
                   open->state == core::TransferState::moving && open->step == core::PeerStep::none) {
                 if (const auto* c = desk_.find(conversation_id)) send_move(*c, *open);
               }
               // A page of a conversation that went back where it came from follows it.
               if (core::is_terminal(r->state)) send_return(conversation_id);
             }
           });
}

void Hub::unsubscribe(const std::string& conversation_id, const Subscriber* sub) {
  run([this, conversation_id, sub] {
    auto it = subs_.find(conversation_id);
    if (it == subs_.end()) return;
    auto& list = it->second;
    list.erase(std::remove_if(list.begin(), list.end(), [sub](const LiveSub& s) { return s.key == sub; }),
               list.end());
    if (list.empty()) subs_.erase(it);
  });
}

void Hub::attach_agent(const std::string& agent, std::shared_ptr<Subscriber> sub) {
  run([this, agent, sub = std::move(sub)] {
    const auto* a = desk_.agent(agent);
    if (!a) return;
    auto& link = agent_links_[agent];
    if (link.offline_timer) link.offline_timer->cancel();
    link.signed_out_at = 0;
    link.subs.emplace_back(sub.get(), sub);
    bool came_online = a->status == core::AgentStatus::offline;
    if (came_online) desk_.set_status(agent, core::AgentStatus::online, clock_.now());
    // The desk as this agent sees it: its own conversations and its queues' waiting ones.
    json::object msg;
    msg["type"] = "desk";
    json::object me;
    me["name"] = a->profile.name;
    me["display_name"] = a->profile.display_name;
    me["status"] = core::status_name(a->status);
    me["capacity"] = a->profile.capacity;
    json::array my_queues;
    for (const auto& q : a->profile.queues) my_queues.push_back(json::string(q));
    me["queues"] = std::move(my_queues);
    msg["agent"] = std::move(me);
    msg["organization"] = settings_.organization;
    json::array convs;
    for (const auto& id : a->conversations) {
      if (const auto* c = desk_.find(id)) convs.push_back(summary_json(*c, 0));
    }
    for (const auto& q : a->profile.queues) {
      std::size_t place = 0;
      for (const auto& id : desk_.waiting_ids(q)) {
        if (++place > kSnapshotLimit) break;
        convs.push_back(summary_json(*desk_.find(id), place));
      }
    }
    // Open transfers this agent sends or is offered, so that a reloaded console shows them.
    json::array open;
    for (const auto& [tid, o] : transfers_) {
      const core::Transfer& t = o.transfer;
      if (!core::is_open(t.state) || t.direction == core::Direction::in) continue;
      if (t.from_agent != agent && t.to_agent != agent) continue;
      open.push_back(transfer_json(t));
      if (t.to_agent == agent && !a->conversations.count(t.conversation_id)) {
        if (const auto* c = desk_.find(t.conversation_id)) convs.push_back(summary_json(*c, 0));
      }
    }
    msg["conversations"] = std::move(convs);
    msg["transfers"] = std::move(open);
    sub->deliver({}, 0, to_payload(msg));
    if (came_online) {
      route();
      for (const auto& q : a->profile.queues) after_queue_change(q);
    }
    notify_queues();
  });
}

void Hub::detach_agent(const std::string& agent, const Subscriber* sub) {
  run([this, agent, sub] {
    auto it = agent_links_.find(agent);
    if (it == agent_links_.end()) return;
    auto& subs = it->second.subs;
    subs.erase(std::remove_if(subs.begin(), subs.end(), [sub](const auto& p) { return p.first == sub; }),
               subs.end());
    if (!subs.empty()) return;
    // Last console closed: offline after a grace period, so that a reload or a
    // dropped connection does not send the agent's visitors elsewhere; at once when
    // the agent has just signed out.
    constexpr core::Millis kSignOutWindowMs = 10'000;
    bool signed_out = it->second.signed_out_at != 0 && clock_.now() - it->second.signed_out_at < kSignOutWindowMs;
    offline_after(agent, signed_out ? 0 : settings_.agent_offline_grace_ms);
  });
}

void Hub::agent_signed_out(const std::string& agent) {
  run([this, agent] {
    auto it = agent_links_.find(agent);
    if (it == agent_links_.end()) return;
    it->second.signed_out_at = clock_.now();
    if (it->second.subs.empty()) offline_after(agent, 0);
  });
}

void Hub::offline_after(const std::string& agent, core::Millis grace) {
  auto& timer = agent_links_[agent].offline_timer;
  if (!timer) timer = timers_.make(strand_);
  timer->wait_until(clock_.now() + grace, [this, agent] {
    auto link = agent_links_.find(agent);
    if (link == agent_links_.end() || !link->second.subs.empty()) return;
    desk_.set_status(agent, core::AgentStatus::offline, clock_.now());
    release_conversations_of(agent);
    route();
    if (const auto* a = desk_.agent(agent)) {
      for (const auto& q : a->profile.queues) after_queue_change(q);
    }
  });
}

void Hub::readable(const Actor& actor, const std::string& conversation_id, Callback<core::Conversation> done) {
  run([this, actor, conversation_id, done = std::move(done)]() mutable {
    if (const auto* c = desk_.find(conversation_id)) {
      if (auto st = can_read(actor, *c); !st) return done(st.error());
      return done(*c);
    }
    net::post(blocking_, [this, actor, conversation_id, done = std::move(done)]() mutable {
      auto r = store_.conversation(conversation_id);
      run([this, actor, r = std::move(r), done = std::move(done)] {
        if (!r) return done(r.error());
        if (!*r) return done(Error{Errc::not_found, "no such conversation"});
        if (auto st = can_read(actor, **r); !st) return done(st.error());
        done(**r);
      });
    });
  });
}

void Hub::list(const Actor& actor, core::ListQuery q, Callback<std::vector<core::Conversation>> done) {
  run([this, actor, q = std::move(q), done = std::move(done)]() mutable {
    const auto* a = desk_.agent(actor.agent);
    if (actor.kind != core::AuthorKind::agent || !a) return done(Error{Errc::forbidden, "agents only"});
    if (q.agent.empty()) {
      if (q.queue.empty()) {
        if (a->profile.queues.size() != 1) {
          return done(Error{Errc::bad_request, "name a queue (queue=...) or ask for your own (mine=1)"});
        }
        q.queue = a->profile.queues.front();
      }
      if (!serves(*a, q.queue)) return done(Error{Errc::forbidden, "you do not serve queue " + q.queue});
    } else if (q.agent != actor.agent) {
      return done(Error{Errc::forbidden, "you may list only your own conversations"});
    }
    net::post(blocking_, [this, q = std::move(q), done = std::move(done)]() mutable {
      auto r = store_.list(q);
      run([r = std::move(r), done = std::move(done)]() mutable { done(std::move(r)); });
    });
  });
}

void Hub::counters(std::function<void(HubCounters)> done) {
  run([this, done = std::move(done)] {
    HubCounters out = counters_;
    for (auto s : {core::ConversationState::waiting, core::ConversationState::active,
                   core::ConversationState::transferring})
      out.conversations_by_state[std::string(core::state_name(s))] = 0;
    for (const auto& [id, c] : desk_.live()) ++out.conversations_by_state[std::string(core::state_name(c.state))];
    for (const auto& q : desk_.queues()) out.queue_waiting[q] = static_cast<std::int64_t>(desk_.waiting_count(q));
    for (auto s : {core::AgentStatus::online, core::AgentStatus::away, core::AgentStatus::offline})
      out.agents_by_status[std::string(core::status_name(s))] = 0;
    for (const auto& [name, a] : desk_.agents()) ++out.agents_by_status[std::string(core::status_name(a.status))];
    std::int64_t n = 0;
    for (const auto& [id, list] : subs_) n += static_cast<std::int64_t>(list.size());
    out.subscribers = n;
    out.transfers_open = 0;
    for (const auto& [id, tracked] : transfers_) out.transfers_open += core::is_open(tracked.transfer.state) ? 1 : 0;
    done(std::move(out));
  });
}

}  // namespace baton::api
