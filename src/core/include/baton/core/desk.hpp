// The desk: the in-memory picture of queues, agents and live conversations of
// one organization, and the rules that move conversations between them.
// Not thread-safe: the owner (api::Hub) calls it from one strand.
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "baton/core/conversation.hpp"
#include "baton/core/router.hpp"

namespace baton::core {

enum class AgentStatus { offline, away, online };
std::string_view status_name(AgentStatus s);
std::optional<AgentStatus> parse_status(std::string_view s);

struct AgentProfile {
  std::string name;  // sign-in name, unique
  std::string display_name;
  std::vector<std::string> queues;
  int capacity = 3;
};

struct AgentState {
  AgentProfile profile;
  AgentStatus status = AgentStatus::offline;
  std::set<std::string> conversations;  // ids it owns (active or transferring)
  Millis idle_since = 0;
  int load() const { return static_cast<int>(conversations.size()); }
};

class Desk {
 public:
  void add_queue(const std::string& name);
  bool has_queue(std::string_view name) const;
  const std::vector<std::string>& queues() const { return queues_; }

  // Adds or replaces an agent's profile; runtime state (status, conversations) is kept.
  void upsert_agent(const AgentProfile& profile, Millis now);
  const AgentState* agent(std::string_view name) const;
  const std::map<std::string, AgentState, std::less<>>& agents() const { return agents_; }
  // Returns false for an unknown agent. Coming online (or back from away) makes it idle since `now`.
  bool set_status(std::string_view name, AgentStatus status, Millis now);
  // Whether some agent serving `queue` is online (available or not).
  bool queue_has_online_agent(std::string_view queue) const;

  // Adds a live conversation (waiting, active or transferring). A waiting one joins
  // its queue in waiting_since order; an owned one counts against its agent.
  // REQUIRES: the queue exists, the id is new, the state is not terminal.
  Status add(Conversation c);
  Conversation* find(std::string_view id);
  const Conversation* find(std::string_view id) const;
  const std::unordered_map<std::string, Conversation>& live() const { return live_; }

  // Runs the router over every queue and applies its choices: each assigned
  // conversation becomes active and owned by its agent.
  std::vector<Assignment> route(Millis now);
  // An agent takes a waiting conversation itself (it must serve the queue and have room).
  Status claim(std::string_view id, std::string_view agent, Millis now);
  // A conversation goes (back) to waiting at the end of `queue`'s line (its own
  // queue when empty); an owned one frees its agent.
  Status requeue(std::string_view id, const std::string& queue, Millis now);
  // Hands an owned conversation to `agent` (who need not serve its queue nor have
  // room: they accepted it). The conversation becomes active; the old owner is freed.
  Status reassign(std::string_view id, std::string_view agent, Millis now);
  // Ends a live conversation (closed, abandoned, transferred) and frees its agent.
  // The conversation leaves the desk; its final state is returned.
  Result<Conversation> finish(std::string_view id, ConversationState terminal,
                              const std::string& reason, Millis now);

  // Undoing a change whose write failed: the conversation becomes `c` again (live,
  // in its line if waiting, counted against its agent if owned), whatever it is
  // now. last_seq never goes back: numbers handed out meanwhile stay used.
  // REQUIRES: `c` is not terminal and its queue exists.
  Status put_back(Conversation c);
  // Undoing an add() whose write failed: the conversation leaves the desk.
  void drop(std::string_view id);

  // 1-based place among the waiting conversations of its queue; 0 when not waiting.
  std::size_t place_in_line(std::string_view id) const;
  std::size_t waiting_count(std::string_view queue) const;
  const std::vector<std::string>& waiting_ids(std::string_view queue) const;
  // Time since the oldest conversation of `queue` started waiting; 0 when none.
  Millis longest_wait(std::string_view queue, Millis now) const;

 private:
  void insert_waiting(const Conversation& c);
  void erase_waiting(const Conversation& c);
  void release(Conversation& c, Millis now);

  std::vector<std::string> queues_;
  std::map<std::string, AgentState, std::less<>> agents_;
  std::unordered_map<std::string, Conversation> live_;
  // Per queue, the waiting conversation ids in waiting_since order.
  std::map<std::string, std::vector<std::string>, std::less<>> waiting_;
};

}  // namespace baton::core
