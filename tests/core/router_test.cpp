#include "baton/core/router.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace baton::core {
namespace {

constexpr Millis kNow = 1'000'000;

using Pairs = std::vector<std::pair<std::string, std::string>>;  // (conversation, agent)

RouterAgent agent(std::string name, std::vector<std::string> queues, Millis idle_since = 0,
                  int capacity = 1, int load = 0, bool available = true) {
  RouterAgent a;
  a.name = std::move(name);
  a.available = available;
  a.load = load;
  a.capacity = capacity;
  a.idle_since = idle_since;
  a.queues = std::move(queues);
  return a;
}

RouterWaiting waiting(std::string id, std::string queue, Millis since) {
  return RouterWaiting{std::move(id), std::move(queue), since};
}

Pairs pairs(const std::vector<Assignment>& as) {
  Pairs out;
  for (const auto& a : as) out.emplace_back(a.conversation_id, a.agent);
  return out;
}

const RouterAgent& named(const std::vector<RouterAgent>& agents, const std::string& name) {
  for (const auto& a : agents)
    if (a.name == name) return a;
  ADD_FAILURE() << "no agent " << name;
  return agents.front();
}

TEST(Router, ReturnsNothingWhenNobodyIsWaiting) {
  std::vector<RouterAgent> agents{agent("ann", {"sales"}, 10)};
  EXPECT_TRUE(route({}, agents, kNow).empty());
  EXPECT_EQ(agents[0].load, 0);
  EXPECT_EQ(agents[0].idle_since, 10);
}

TEST(Router, ReturnsNothingWithoutAgents) {
  std::vector<RouterAgent> agents;
  EXPECT_TRUE(route({waiting("c1", "sales", 1)}, agents, kNow).empty());
}

TEST(Router, ReturnsNothingWhenBothInputsAreEmpty) {
  std::vector<RouterAgent> agents;
  EXPECT_TRUE(route({}, agents, kNow).empty());
}

TEST(Router, AssignsAWaitingConversationToAnAvailableAgent) {
  std::vector<RouterAgent> agents{agent("ann", {"sales"})};
  EXPECT_EQ(pairs(route({waiting("c1", "sales", 5)}, agents, kNow)), (Pairs{{"c1", "ann"}}));
}

TEST(Router, AssignsLongestWaitingConversationFirstWithinAQueue) {
  std::vector<RouterAgent> agents{agent("ann", {"sales"})};
  auto got = route({waiting("new", "sales", 300), waiting("old", "sales", 100),
                    waiting("mid", "sales", 200)},
                   agents, kNow);
  EXPECT_EQ(pairs(got), (Pairs{{"old", "ann"}}));
}

TEST(Router, AssignsLongestWaitingConversationFirstAcrossQueues) {
  std::vector<RouterAgent> agents{agent("ann", {"billing", "sales"})};
  // "billing" sorts first by name, but "sales" has waited longer.
  auto got = route({waiting("b1", "billing", 200), waiting("s1", "sales", 100)}, agents, kNow);
  EXPECT_EQ(pairs(got), (Pairs{{"s1", "ann"}}));
}

TEST(Router, HandsOutConversationsOldestFirstAcrossQueues) {
  std::vector<RouterAgent> agents{agent("ann", {"billing", "sales"}, 0, 10)};
  auto got = route({waiting("s2", "sales", 400), waiting("b1", "billing", 100),
                    waiting("s1", "sales", 200), waiting("b2", "billing", 300)},
                   agents, kNow);
  EXPECT_EQ(pairs(got), (Pairs{{"b1", "ann"}, {"s1", "ann"}, {"b2", "ann"}, {"s2", "ann"}}));
}

TEST(Router, KeepsInputOrderForConversationsThatStartedWaitingTogether) {
  std::vector<RouterAgent> agents{agent("ann", {"sales"}, 0, 3)};
  auto got = route({waiting("first", "sales", 100), waiting("second", "sales", 100),
                    waiting("third", "sales", 100)},
                   agents, kNow);
  EXPECT_EQ(pairs(got), (Pairs{{"first", "ann"}, {"second", "ann"}, {"third", "ann"}}));
}

TEST(Router, KeepsInputOrderForManyConversationsThatStartedWaitingTogether) {
  // Enough of them that an unstable sort would reorder (small inputs are insertion-sorted).
  std::vector<RouterAgent> agents{agent("ann", {"sales"}, 0, 1000)};
  std::vector<RouterWaiting> w;
  Pairs want;
  for (int i = 0; i < 100; ++i) {
    w.push_back(waiting("late" + std::to_string(i), "sales", 200 + (i % 2)));
    w.push_back(waiting("tie" + std::to_string(i), "sales", 100));
  }
  for (int i = 0; i < 100; ++i) want.emplace_back("tie" + std::to_string(i), "ann");
  for (int i = 0; i < 100; i += 2) want.emplace_back("late" + std::to_string(i), "ann");
  for (int i = 1; i < 100; i += 2) want.emplace_back("late" + std::to_string(i), "ann");
  EXPECT_EQ(pairs(route(w, agents, kNow)), want);
}

TEST(Router, AssignsLongestIdleAgent) {
  std::vector<RouterAgent> agents{agent("ann", {"sales"}, 300), agent("bob", {"sales"}, 100),
                                  agent("cat", {"sales"}, 200)};
  EXPECT_EQ(pairs(route({waiting("c1", "sales", 5)}, agents, kNow)), (Pairs{{"c1", "bob"}}));
}

TEST(Router, GivesLongestWaitingConversationToLongestIdleAgent) {
  std::vector<RouterAgent> agents{agent("ann", {"sales"}, 300), agent("bob", {"sales"}, 100)};
  auto got = route({waiting("young", "sales", 50), waiting("old", "sales", 10)}, agents, kNow);
  EXPECT_EQ(pairs(got), (Pairs{{"old", "bob"}, {"young", "ann"}}));
}

TEST(Router, PrefersLongerIdleOverLighterLoad) {
  std::vector<RouterAgent> agents{agent("busy", {"sales"}, 100, 3, 2),
                                  agent("free", {"sales"}, 200, 3, 0)};
  EXPECT_EQ(pairs(route({waiting("c1", "sales", 5)}, agents, kNow)), (Pairs{{"c1", "busy"}}));
}

TEST(Router, BreaksIdleTiesByLighterLoad) {
  std::vector<RouterAgent> agents{agent("ann", {"sales"}, 100, 3, 2),
                                  agent("bob", {"sales"}, 100, 3, 1),
                                  agent("cat", {"sales"}, 100, 3, 2)};
  EXPECT_EQ(pairs(route({waiting("c1", "sales", 5)}, agents, kNow)), (Pairs{{"c1", "bob"}}));
}

TEST(Router, BreaksIdleAndLoadTiesByEarlierName) {
  // Input order is not name order, so the name is what decides.
  std::vector<RouterAgent> agents{agent("cat", {"sales"}, 100), agent("ann", {"sales"}, 100),
                                  agent("bob", {"sales"}, 100)};
  EXPECT_EQ(pairs(route({waiting("c1", "sales", 5)}, agents, kNow)), (Pairs{{"c1", "ann"}}));
}

TEST(Router, RespectsCapacity) {
  std::vector<RouterAgent> agents{agent("ann", {"sales"}, 0, 2)};
  auto got = route({waiting("c1", "sales", 1), waiting("c2", "sales", 2), waiting("c3", "sales", 3)},
                   agents, kNow);
  EXPECT_EQ(pairs(got), (Pairs{{"c1", "ann"}, {"c2", "ann"}}));
  EXPECT_EQ(agents[0].load, 2);
}

TEST(Router, CountsExistingLoadAgainstCapacity) {
  std::vector<RouterAgent> agents{agent("ann", {"sales"}, 0, 3, 2)};
  auto got = route({waiting("c1", "sales", 1), waiting("c2", "sales", 2)}, agents, kNow);
  EXPECT_EQ(pairs(got), (Pairs{{"c1", "ann"}}));
  EXPECT_EQ(agents[0].load, 3);
}

TEST(Router, SkipsAgentsAtCapacity) {
  std::vector<RouterAgent> agents{agent("full", {"sales"}, 100, 2, 2),
                                  agent("room", {"sales"}, 900, 2, 1)};
  EXPECT_EQ(pairs(route({waiting("c1", "sales", 5)}, agents, kNow)), (Pairs{{"c1", "room"}}));
  EXPECT_EQ(named(agents, "full").load, 2);
  EXPECT_EQ(named(agents, "full").idle_since, 100);
}

TEST(Router, SkipsAgentsOverCapacity) {
  // Capacity lowered while the agent still holds more than the new limit.
  std::vector<RouterAgent> agents{agent("ann", {"sales"}, 100, 1, 3)};
  EXPECT_TRUE(route({waiting("c1", "sales", 5)}, agents, kNow).empty());
  EXPECT_EQ(agents[0].load, 3);
}

TEST(Router, NeverAssignsToAnAgentWithZeroCapacity) {
  std::vector<RouterAgent> agents{agent("ann", {"sales"}, 100, 0)};
  EXPECT_TRUE(route({waiting("c1", "sales", 5)}, agents, kNow).empty());
  EXPECT_EQ(agents[0].load, 0);
}

TEST(Router, SkipsAwayAndOfflineAgents) {
  // Away and offline both reach the router as available = false.
  std::vector<RouterAgent> agents{agent("away", {"sales"}, 1, 5, 0, false),
                                  agent("offline", {"sales"}, 2, 5, 0, false)};
  EXPECT_TRUE(route({waiting("c1", "sales", 5)}, agents, kNow).empty());
  EXPECT_EQ(agents[0].load, 0);
  EXPECT_EQ(agents[0].idle_since, 1);
  EXPECT_EQ(agents[1].load, 0);
  EXPECT_EQ(agents[1].idle_since, 2);
}

TEST(Router, PassesOverUnavailableAgentEvenWhenItIsLongestIdle) {
  std::vector<RouterAgent> agents{agent("away", {"sales"}, 1, 5, 0, false),
                                  agent("here", {"sales"}, 500)};
  EXPECT_EQ(pairs(route({waiting("c1", "sales", 5)}, agents, kNow)), (Pairs{{"c1", "here"}}));
}

TEST(Router, GivesAgentsOnlyQueuesTheyServe) {
  std::vector<RouterAgent> agents{agent("seller", {"sales"}, 100, 5),
                                  agent("helper", {"support"}, 900, 5)};
  auto got = route({waiting("s1", "sales", 1), waiting("h1", "support", 2),
                    waiting("s2", "sales", 3), waiting("h2", "support", 4)},
                   agents, kNow);
  EXPECT_EQ(pairs(got),
            (Pairs{{"s1", "seller"}, {"h1", "helper"}, {"s2", "seller"}, {"h2", "helper"}}));
}

TEST(Router, LeavesConversationWaitingWhenNoAgentServesItsQueue) {
  std::vector<RouterAgent> agents{agent("ann", {"sales"}, 0, 5)};
  EXPECT_TRUE(route({waiting("c1", "support", 5)}, agents, kNow).empty());
  EXPECT_EQ(agents[0].load, 0);
}

TEST(Router, QueueWithoutAgentDoesNotBlockOtherQueues) {
  std::vector<RouterAgent> agents{agent("ann", {"sales"}, 0, 5)};
  // The oldest conversation sits in a queue nobody serves.
  auto got = route({waiting("orphan", "billing", 1), waiting("s1", "sales", 2),
                    waiting("s2", "sales", 3)},
                   agents, kNow);
  EXPECT_EQ(pairs(got), (Pairs{{"s1", "ann"}, {"s2", "ann"}}));
}

TEST(Router, QueueWhoseAgentsAreFullDoesNotBlockOtherQueues) {
  std::vector<RouterAgent> agents{agent("biller", {"billing"}, 0, 1, 1),
                                  agent("seller", {"sales"}, 0, 1)};
  auto got = route({waiting("b1", "billing", 1), waiting("s1", "sales", 2)}, agents, kNow);
  EXPECT_EQ(pairs(got), (Pairs{{"s1", "seller"}}));
}

TEST(Router, QueueWhoseAgentsAreAwayDoesNotBlockOtherQueues) {
  std::vector<RouterAgent> agents{agent("biller", {"billing"}, 0, 1, 0, false),
                                  agent("seller", {"sales"}, 0, 1)};
  auto got = route({waiting("b1", "billing", 1), waiting("s1", "sales", 2)}, agents, kNow);
  EXPECT_EQ(pairs(got), (Pairs{{"s1", "seller"}}));
}

TEST(Router, OlderConversationTakesTheSharedAgentFirst) {
  // ann serves both queues and has one slot: the older conversation gets it,
  // the newer one waits even though its queue has a (busy) agent.
  std::vector<RouterAgent> agents{agent("ann", {"billing", "sales"})};
  auto got = route({waiting("s1", "sales", 2), waiting("b1", "billing", 1)}, agents, kNow);
  EXPECT_EQ(pairs(got), (Pairs{{"b1", "ann"}}));
}

TEST(Router, UpdatesLoadAndIdleSinceOfAssignedAgentsOnly) {
  std::vector<RouterAgent> agents{agent("ann", {"sales"}, 100, 3, 1),
                                  agent("bob", {"support"}, 200, 3, 0)};
  auto got = route({waiting("c1", "sales", 5)}, agents, kNow);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(named(agents, "ann").load, 2);
  EXPECT_EQ(named(agents, "ann").idle_since, kNow);
  EXPECT_EQ(named(agents, "bob").load, 0);
  EXPECT_EQ(named(agents, "bob").idle_since, 200);
}

TEST(Router, SpreadsWorkAcrossAgentsBecauseIdleSinceMovesToNow) {
  std::vector<RouterAgent> agents{agent("ann", {"sales"}, 100, 3), agent("bob", {"sales"}, 200, 3)};
  auto got = route({waiting("c1", "sales", 1), waiting("c2", "sales", 2), waiting("c3", "sales", 3),
                    waiting("c4", "sales", 4)},
                   agents, kNow);
  // c1: ann idles longest. c2: bob (ann was just assigned). c3: both idle since now
  // with one conversation each, ann by name. c4: bob, lighter load.
  EXPECT_EQ(pairs(got), (Pairs{{"c1", "ann"}, {"c2", "bob"}, {"c3", "ann"}, {"c4", "bob"}}));
  EXPECT_EQ(named(agents, "ann").load, 2);
  EXPECT_EQ(named(agents, "bob").load, 2);
}

TEST(Router, SpreadsWorkOverSuccessiveRounds) {
  std::vector<RouterAgent> agents{agent("ann", {"sales"}, 100, 5), agent("bob", {"sales"}, 200, 5)};
  EXPECT_EQ(pairs(route({waiting("c1", "sales", 1)}, agents, 1000)), (Pairs{{"c1", "ann"}}));
  EXPECT_EQ(pairs(route({waiting("c2", "sales", 2)}, agents, 2000)), (Pairs{{"c2", "bob"}}));
  EXPECT_EQ(pairs(route({waiting("c3", "sales", 3)}, agents, 3000)), (Pairs{{"c3", "ann"}}));
}

TEST(Router, AssignsAsManyAsThereIsRoomFor) {
  std::vector<RouterAgent> agents{agent("ann", {"sales"}, 0, 2), agent("bob", {"sales"}, 0, 1)};
  std::vector<RouterWaiting> w;
  for (int i = 0; i < 10; ++i) w.push_back(waiting("c" + std::to_string(i), "sales", i));
  auto got = route(w, agents, kNow);
  EXPECT_EQ(pairs(got), (Pairs{{"c0", "ann"}, {"c1", "bob"}, {"c2", "ann"}}));
}

// Invariants over many generated desks (fixed seed, so every run is the same).
TEST(Router, KeepsItsPromisesOnGeneratedDesks) {
  std::mt19937 rng(20240601);
  const std::vector<std::string> queue_names{"a", "b", "c", "d"};
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };

  for (int round = 0; round < 300; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::vector<RouterAgent> agents;
    const int n_agents = pick(0, 5);
    for (int i = 0; i < n_agents; ++i) {
      std::vector<std::string> qs;
      for (const auto& q : queue_names)
        if (pick(0, 2) == 0) qs.push_back(q);
      const int capacity = pick(0, 3);
      agents.push_back(agent("agent" + std::to_string(i), qs, pick(0, 5), capacity,
                             pick(0, capacity), pick(0, 3) != 0));
    }
    std::vector<RouterWaiting> w;
    const int n_waiting = pick(0, 12);
    for (int i = 0; i < n_waiting; ++i)
      w.push_back(waiting("c" + std::to_string(i), queue_names[pick(0, 3)], pick(0, 8)));

    const std::vector<RouterAgent> before = agents;
    const auto got = route(w, agents, kNow);

    std::map<std::string, const RouterWaiting*> by_id;
    for (const auto& x : w) by_id[x.conversation_id] = &x;
    std::map<std::string, int> given;
    std::set<std::string> assigned;
    Millis last_since = -1;
    for (const auto& as : got) {
      ASSERT_TRUE(by_id.count(as.conversation_id));
      EXPECT_TRUE(assigned.insert(as.conversation_id).second) << "assigned twice";
      const RouterWaiting& conv = *by_id[as.conversation_id];
      const RouterAgent& a = named(before, as.agent);
      EXPECT_TRUE(a.available);
      EXPECT_NE(std::find(a.queues.begin(), a.queues.end(), conv.queue), a.queues.end());
      // Oldest first: later assignments never waited longer than earlier ones.
      EXPECT_GE(conv.waiting_since, last_since);
      last_since = conv.waiting_since;
      ++given[as.agent];
    }
    for (std::size_t i = 0; i < agents.size(); ++i) {
      const RouterAgent& a0 = before[i];
      const RouterAgent& a1 = agents[i];
      EXPECT_EQ(a1.load, a0.load + given[a0.name]);
      EXPECT_LE(a1.load, std::max(a0.capacity, a0.load));
      EXPECT_EQ(a1.idle_since, given[a0.name] ? kNow : a0.idle_since);
    }
    // Within a queue, the assigned ones are the oldest ones.
    for (const auto& q : queue_names) {
      Millis newest_assigned = -1;
      Millis oldest_left = 1 << 30;
      for (const auto& x : w) {
        if (x.queue != q) continue;
        if (assigned.count(x.conversation_id))
          newest_assigned = std::max(newest_assigned, x.waiting_since);
        else
          oldest_left = std::min(oldest_left, x.waiting_since);
      }
      EXPECT_LE(newest_assigned, oldest_left) << "queue " << q;
    }
    // Nothing is left that some agent could still take.
    for (const auto& x : w) {
      if (assigned.count(x.conversation_id)) continue;
      for (const auto& a : agents) {
        const bool serves = std::find(a.queues.begin(), a.queues.end(), x.queue) != a.queues.end();
        EXPECT_FALSE(a.available && serves && a.load < a.capacity)
            << x.conversation_id << " left waiting while " << a.name << " had room";
      }
    }
  }
}

}  // namespace
}  // namespace baton::core
