// The router: which waiting conversation goes to which agent. A pure function
// of its inputs so that it can be tested exhaustively.
#pragma once

#include <string>
#include <vector>

#include "baton/core/clock.hpp"

namespace baton::core {

struct RouterAgent {
  std::string name;
  bool available = false;  // online (not away, not offline)
  int load = 0;            // conversations it owns now
  int capacity = 1;
  Millis idle_since = 0;   // when it last came online, was last assigned, or last freed a slot
  std::vector<std::string> queues;
};

struct RouterWaiting {
  std::string conversation_id;
  std::string queue;
  Millis waiting_since = 0;
};

struct Assignment {
  std::string conversation_id;
  std::string agent;
};

// Assigns, repeatedly, the longest-waiting conversation (over all queues) that
// some agent can take, to the longest-idle available agent with free capacity
// that serves its queue. Ties go to the lighter load, then the earlier name.
// `agents` is updated (load, idle_since = now) as assignments are made.
// Cost: O(assignments * queues * agents) plus O(waiting log waiting) to sort.
std::vector<Assignment> route(std::vector<RouterWaiting> waiting, std::vector<RouterAgent>& agents,
                              Millis now);

}  // namespace baton::core
