#include "baton/core/router.hpp"

#include <algorithm>
#include <map>

namespace baton::core {

std::vector<Assignment> route(std::vector<RouterWaiting> waiting, std::vector<RouterAgent>& agents,
                              Millis now) {
  std::vector<Assignment> out;
  if (waiting.empty() || agents.empty()) return out;

  // Per queue, the waiting conversations oldest first; stable keeps input order on ties.
  std::map<std::string, std::vector<const RouterWaiting*>> by_queue;
  std::stable_sort(waiting.begin(), waiting.end(),
                   [](const auto& a, const auto& b) { return a.waiting_since < b.waiting_since; });
  for (const auto& w : waiting) by_queue[w.queue].push_back(&w);
  std::map<std::string, std::size_t> head;  // next unassigned index per queue

  auto serves = [](const RouterAgent& a, const std::string& q) {
    return std::find(a.queues.begin(), a.queues.end(), q) != a.queues.end();
  };
  auto best_agent_for = [&](const std::string& q) -> RouterAgent* {
    RouterAgent* best = nullptr;
    for (auto& a : agents) {
      if (!a.available || a.load >= a.capacity || !serves(a, q)) continue;
      if (!best || a.idle_since < best->idle_since ||
          (a.idle_since == best->idle_since &&
           (a.load < best->load || (a.load == best->load && a.name < best->name)))) {
        best = &a;
      }
    }
    return best;
  };

  while (true) {
    const RouterWaiting* pick = nullptr;
    RouterAgent* agent = nullptr;
    for (auto& [queue, list] : by_queue) {
      std::size_t i = head[queue];
      if (i >= list.size()) continue;
      if (pick && list[i]->waiting_since >= pick->waiting_since) continue;
      if (RouterAgent* a = best_agent_for(queue)) {
        pick = list[i];
        agent = a;
      }
    }
    if (!pick) break;
    ++head[pick->queue];
    ++agent->load;
    agent->idle_since = now;
    out.push_back({pick->conversation_id, agent->name});
  }
  return out;
}

}  // namespace baton::core
