#include "baton/core/desk.hpp"

#include <algorithm>
#include <set>

namespace baton::core {

std::string_view status_name(AgentStatus s) {
  switch (s) {
    case AgentStatus::offline: return "offline";
    case AgentStatus::away: return "away";
    case AgentStatus::online: return "online";
  }
  return "offline";
}

std::optional<AgentStatus> parse_status(std::string_view s) {
  if (s == "offline") return AgentStatus::offline;
  if (s == "away") return AgentStatus::away;
  if (s == "online") return AgentStatus::online;
  return std::nullopt;
}

void Desk::add_queue(const std::string& name) {
  if (has_queue(name)) return;
  queues_.push_back(name);
  waiting_[name];
}

bool Desk::has_queue(std::string_view name) const { return waiting_.find(name) != waiting_.end(); }

void Desk::upsert_agent(const AgentProfile& profile, Millis now) {
  auto it = agents_.find(profile.name);
  if (it == agents_.end()) {
    AgentState st;
    st.profile = profile;
    st.idle_since = now;
    agents_.emplace(profile.name, std::move(st));
  } else {
    it->second.profile = profile;
  }
}

const AgentState* Desk::agent(std::string_view name) const {
  auto it = agents_.find(name);
  return it == agents_.end() ? nullptr : &it->second;
}

bool Desk::set_status(std::string_view name, AgentStatus status, Millis now) {
  auto it = agents_.find(name);
  if (it == agents_.end()) return false;
  if (status == AgentStatus::online && it->second.status != AgentStatus::online) {
    it->second.idle_since = now;
  }
  it->second.status = status;
  return true;
}

bool Desk::queue_has_online_agent(std::string_view queue) const {
  for (const auto& [name, a] : agents_) {
    if (a.status != AgentStatus::online) continue;
    if (std::find(a.profile.queues.begin(), a.profile.queues.end(), queue) != a.profile.queues.end())
      return true;
  }
  return false;
}

Status Desk::add(Conversation c) {
  if (!has_queue(c.queue)) return Error{Errc::not_found, "unknown queue " + c.queue};
  if (is_terminal(c.state)) return Error{Errc::conflict, "conversation is " + std::string(state_name(c.state))};
  if (live_.count(c.id)) return Error{Errc::conflict, "conversation exists"};
  if (c.state == ConversationState::waiting) {
    insert_waiting(c);
  } else {
    auto it = agents_.find(c.agent);
    if (it != agents_.end()) it->second.conversations.insert(c.id);
  }
  std::string id = c.id;
  live_.emplace(std::move(id), std::move(c));
  return ok_status();
}

Conversation* Desk::find(std::string_view id) {
  auto it = live_.find(std::string(id));
  return it == live_.end() ? nullptr : &it->second;
}

const Conversation* Desk::find(std::string_view id) const {
  auto it = live_.find(std::string(id));
  return it == live_.end() ? nullptr : &it->second;
}

void Desk::insert_waiting(const Conversation& c) {
  auto& list = waiting_[c.queue];
  // Usually appends: waiting_since is almost always the newest.
  auto pos = std::upper_bound(list.begin(), list.end(), c.waiting_since,
                              [this](Millis t, const std::string& id) {
                                return t < live_.at(id).waiting_since;
                              });
  list.insert(pos, c.id);
}

void Desk::erase_waiting(const Conversation& c) {
  auto it = waiting_.find(c.queue);
  if (it == waiting_.end()) return;
  auto& list = it->second;
  list.erase(std::remove(list.begin(), list.end(), c.id), list.end());
}

std::vector<Assignment> Desk::route(Millis now) {
  // Only queues that an online agent with room serves can have a conversation
  // assigned; the others are not even copied. Called on every create, close and
  // status change, this used to copy every waiting conversation each time.
  std::set<std::string, std::less<>> open_queues;
  for (const auto& [name, a] : agents_) {
    if (a.status != AgentStatus::online || a.load() >= a.profile.capacity) continue;
    for (const auto& q : a.profile.queues) {
      auto w = waiting_.find(q);
      if (w != waiting_.end() && !w->second.empty()) open_queues.insert(q);
    }
  }
  if (open_queues.empty()) return {};
  std::vector<RouterWaiting> waiting;
  for (const auto& queue : open_queues) {
    for (const auto& id : waiting_.find(queue)->second) waiting.push_back({id, queue, live_.at(id).waiting_since});
  }
  std::vector<RouterAgent> agents;
  for (const auto& [name, a] : agents_) {
    agents.push_back({name, a.status == AgentStatus::online, a.load(), a.profile.capacity,
                      a.idle_since, a.profile.queues});
  }
  auto assignments = core::route(std::move(waiting), agents, now);
  for (const auto& as : assignments) {
    Conversation& c = live_.at(as.conversation_id);
    erase_waiting(c);
    (void)transition(c, ConversationState::active, now);
    c.agent = as.agent;
    AgentState& a = agents_.at(as.agent);
    a.conversations.insert(c.id);
    a.idle_since = now;
  }
  return assignments;
}

Status Desk::claim(std::string_view id, std::string_view agent_name, Millis now) {
  Conversation* c = find(id);
  if (!c) return Error{Errc::not_found, "no such conversation"};
  if (c->state != ConversationState::waiting) return Error{Errc::conflict, "conversation is not waiting"};
  auto it = agents_.find(agent_name);
  if (it == agents_.end()) return Error{Errc::not_found, "no such agent"};
  AgentState& a = it->second;
  const auto& qs = a.profile.queues;
  if (std::find(qs.begin(), qs.end(), c->queue) == qs.end())
    return Error{Errc::forbidden, "agent does not serve queue " + c->queue};
  if (a.load() >= a.profile.capacity) return Error{Errc::conflict, "agent is at capacity"};
  erase_waiting(*c);
  if (auto st = transition(*c, ConversationState::active, now); !st) return st;
  c->agent = a.profile.name;
  a.conversations.insert(c->id);
  a.idle_since = now;
  return ok_status();
}

void Desk::release(Conversation& c, Millis now) {
  if (c.agent.empty()) return;
  auto it = agents_.find(c.agent);
  if (it != agents_.end() && it->second.conversations.erase(c.id)) it->second.idle_since = now;
  c.agent.clear();
}

Status Desk::requeue(std::string_view id, const std::string& queue, Millis now) {
  Conversation* c = find(id);
  if (!c) return Error{Errc::not_found, "no such conversation"};
  const std::string target = queue.empty() ? c->queue : queue;
  if (!has_queue(target)) return Error{Errc::not_found, "unknown queue " + target};
  if (c->state == ConversationState::waiting) {
    // Already waiting: it moves to the back of `target`'s line.
    erase_waiting(*c);
    c->queue = target;
    c->waiting_since = now;
    c->updated_at = now;
    insert_waiting(*c);
    return ok_status();
  }
  if (auto st = transition(*c, ConversationState::waiting, now); !st) return st;
  release(*c, now);
  c->queue = target;
  insert_waiting(*c);
  return ok_status();
}

Status Desk::reassign(std::string_view id, std::string_view agent_name, Millis now) {
  Conversation* c = find(id);
  if (!c) return Error{Errc::not_found, "no such conversation"};
  auto it = agents_.find(agent_name);
  if (it == agents_.end()) return Error{Errc::not_found, "no such agent"};
  if (c->state != ConversationState::active && c->state != ConversationState::transferring)
    return Error{Errc::conflict, "conversation is not owned by an agent"};
  if (c->state == ConversationState::transferring) {
    if (auto st = transition(*c, ConversationState::active, now); !st) return st;
  }
  release(*c, now);
  c->agent = it->second.profile.name;
  it->second.conversations.insert(c->id);
  it->second.idle_since = now;
  c->updated_at = now;
  return ok_status();
}

Result<Conversation> Desk::finish(std::string_view id, ConversationState terminal,
                                  const std::string& reason, Millis now) {
  if (!is_terminal(terminal)) return Error{Errc::internal, "finish needs a terminal state"};
  auto it = live_.find(std::string(id));
  if (it == live_.end()) return Error{Errc::not_found, "no such conversation"};
  Conversation& c = it->second;
  if (auto st = transition(c, terminal, now); !st) return st.error();
  // Whatever its state says, it must not stay in a line once it is gone.
  erase_waiting(c);
  std::string agent = c.agent;
  release(c, now);
  c.agent = agent;  // the record keeps who had it last
  c.close_reason = reason;
  Conversation done = std::move(c);
  live_.erase(it);
  return done;
}

Status Desk::put_back(Conversation c) {
  if (Conversation* now = find(c.id)) {
    c.last_seq = std::max(c.last_seq, now->last_seq);
    drop(c.id);
  }
  return add(std::move(c));
}

void Desk::drop(std::string_view id) {
  auto it = live_.find(std::string(id));
  if (it == live_.end()) return;
  Conversation& c = it->second;
  erase_waiting(c);
  if (!c.agent.empty()) {
    auto a = agents_.find(c.agent);
    if (a != agents_.end()) a->second.conversations.erase(c.id);
  }
  live_.erase(it);
}

std::size_t Desk::place_in_line(std::string_view id) const {
  const Conversation* c = find(id);
  if (!c || c->state != ConversationState::waiting) return 0;
  const auto& list = waiting_ids(c->queue);
  auto pos = std::find(list.begin(), list.end(), c->id);
  return pos == list.end() ? 0 : static_cast<std::size_t>(pos - list.begin()) + 1;
}

std::size_t Desk::waiting_count(std::string_view queue) const { return waiting_ids(queue).size(); }

const std::vector<std::string>& Desk::waiting_ids(std::string_view queue) const {
  static const std::vector<std::string> kEmpty;
  auto it = waiting_.find(queue);
  return it == waiting_.end() ? kEmpty : it->second;
}

Millis Desk::longest_wait(std::string_view queue, Millis now) const {
  const auto& ids = waiting_ids(queue);
  if (ids.empty()) return 0;
  return now - live_.at(ids.front()).waiting_since;
}

}  // namespace baton::core
