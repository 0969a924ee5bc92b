#include "baton/core/desk.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace baton::core {
namespace {

using S = ConversationState;
using Pairs = std::vector<std::pair<std::string, std::string>>;  // (conversation, agent)
using Ids = std::vector<std::string>;

Pairs pairs(const std::vector<Assignment>& as) {
  Pairs out;
  for (const auto& a : as) out.emplace_back(a.conversation_id, a.agent);
  return out;
}

AgentProfile profile(std::string name, std::vector<std::string> queues, int capacity = 3) {
  AgentProfile p;
  p.name = name;
  p.display_name = "Agent " + name;
  p.queues = std::move(queues);
  p.capacity = capacity;
  return p;
}

Conversation conversation(std::string id, std::string queue, Millis waiting_since,
                          S state = S::waiting, std::string agent = "") {
  Conversation c;
  c.id = std::move(id);
  c.site = "example.org";
  c.queue = std::move(queue);
  c.state = state;
  c.agent = std::move(agent);
  c.created_at = waiting_since;
  c.waiting_since = waiting_since;
  c.updated_at = waiting_since;
  return c;
}

class DeskTest : public testing::Test {
 protected:
  DeskTest() {
    desk_.add_queue("sales");
    desk_.add_queue("support");
  }

  // A waiting conversation that started waiting now; the clock then moves on.
  void arrive(const std::string& id, const std::string& queue = "sales") {
    ASSERT_TRUE(desk_.add(conversation(id, queue, clock_.now())).ok()) << id;
    clock_.advance(1000);
  }

  void online(const std::string& name, std::vector<std::string> queues, int capacity = 3) {
    desk_.upsert_agent(profile(name, std::move(queues), capacity), clock_.now());
    ASSERT_TRUE(desk_.set_status(name, AgentStatus::online, clock_.now()));
    clock_.advance(1000);
  }

  int load(const std::string& name) const {
    const AgentState* a = desk_.agent(name);
    return a ? a->load() : -1;
  }

  Millis idle_since(const std::string& name) const {
    const AgentState* a = desk_.agent(name);
    return a ? a->idle_since : -1;
  }

  ManualClock clock_;
  Desk desk_;
};

// ---- Statuses ----------------------------------------------------------------------------------

TEST(AgentStatusName, RoundTrips) {
  for (AgentStatus s : {AgentStatus::offline, AgentStatus::away, AgentStatus::online}) {
    auto parsed = parse_status(status_name(s));
    ASSERT_TRUE(parsed.has_value()) << status_name(s);
    EXPECT_EQ(*parsed, s);
  }
  EXPECT_EQ(status_name(AgentStatus::offline), "offline");
  EXPECT_EQ(status_name(AgentStatus::away), "away");
  EXPECT_EQ(status_name(AgentStatus::online), "online");
}

TEST(AgentStatusName, ParseRejectsUnknownNames) {
  for (std::string_view bad : {"", "Online", "busy", "online "})
    EXPECT_FALSE(parse_status(bad).has_value()) << "'" << bad << "'";
}

// ---- Queues and agents -------------------------------------------------------------------------

TEST_F(DeskTest, AddQueueIsIdempotentAndKeepsOrder) {
  desk_.add_queue("sales");
  desk_.add_queue("billing");
  EXPECT_EQ(desk_.queues(), (Ids{"sales", "support", "billing"}));
  EXPECT_TRUE(desk_.has_queue("billing"));
  EXPECT_FALSE(desk_.has_queue("nope"));
}

TEST_F(DeskTest, NewAgentIsOfflineWithNothingAndIdleSinceAdded) {
  desk_.upsert_agent(profile("ann", {"sales"}), 500);
  const AgentState* a = desk_.agent("ann");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->status, AgentStatus::offline);
  EXPECT_EQ(a->load(), 0);
  EXPECT_EQ(a->idle_since, 500);
  EXPECT_EQ(a->profile.display_name, "Agent ann");
}

TEST_F(DeskTest, UnknownAgentIsNull) { EXPECT_EQ(desk_.agent("ghost"), nullptr); }

TEST_F(DeskTest, UpsertReplacesProfileButKeepsRuntimeState) {
  online("ann", {"sales"});
  arrive("c1");
  ASSERT_EQ(desk_.route(clock_.now()).size(), 1u);
  const Millis idle = idle_since("ann");
  clock_.advance(5000);

  desk_.upsert_agent(profile("ann", {"support"}, 7), clock_.now());
  const AgentState* a = desk_.agent("ann");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->profile.queues, (Ids{"support"}));
  EXPECT_EQ(a->profile.capacity, 7);
  EXPECT_EQ(a->status, AgentStatus::online);
  EXPECT_EQ(a->conversations.count("c1"), 1u);
  EXPECT_EQ(a->idle_since, idle);
}

TEST_F(DeskTest, SetStatusOfUnknownAgentFails) {
  EXPECT_FALSE(desk_.set_status("ghost", AgentStatus::online, 1));
  EXPECT_EQ(desk_.agent("ghost"), nullptr);
}

TEST_F(DeskTest, ComingOnlineResetsIdleSince) {
  desk_.upsert_agent(profile("ann", {"sales"}), 100);
  ASSERT_TRUE(desk_.set_status("ann", AgentStatus::online, 900));
  EXPECT_EQ(desk_.agent("ann")->status, AgentStatus::online);
  EXPECT_EQ(idle_since("ann"), 900);
}

TEST_F(DeskTest, ComingBackFromAwayResetsIdleSince) {
  desk_.upsert_agent(profile("ann", {"sales"}), 100);
  ASSERT_TRUE(desk_.set_status("ann", AgentStatus::online, 200));
  ASSERT_TRUE(desk_.set_status("ann", AgentStatus::away, 300));
  EXPECT_EQ(desk_.agent("ann")->status, AgentStatus::away);
  EXPECT_EQ(idle_since("ann"), 200);
  ASSERT_TRUE(desk_.set_status("ann", AgentStatus::online, 400));
  EXPECT_EQ(idle_since("ann"), 400);
}

TEST_F(DeskTest, StayingOnlineKeepsIdleSince) {
  desk_.upsert_agent(profile("ann", {"sales"}), 100);
  ASSERT_TRUE(desk_.set_status("ann", AgentStatus::online, 200));
  ASSERT_TRUE(desk_.set_status("ann", AgentStatus::online, 300));
  EXPECT_EQ(idle_since("ann"), 200);
}

TEST_F(DeskTest, GoingAwayOrOfflineKeepsIdleSince) {
  desk_.upsert_agent(profile("ann", {"sales"}), 100);
  ASSERT_TRUE(desk_.set_status("ann", AgentStatus::online, 200));
  ASSERT_TRUE(desk_.set_status("ann", AgentStatus::offline, 300));
  EXPECT_EQ(desk_.agent("ann")->status, AgentStatus::offline);
  EXPECT_EQ(idle_since("ann"), 200);
}

TEST_F(DeskTest, QueueHasOnlineAgentOnlyWhenAnOnlineAgentServesIt) {
  EXPECT_FALSE(desk_.queue_has_online_agent("sales"));
  desk_.upsert_agent(profile("ann", {"sales"}), 0);
  EXPECT_FALSE(desk_.queue_has_online_agent("sales")) << "offline agent counted";
  ASSERT_TRUE(desk_.set_status("ann", AgentStatus::away, 0));
  EXPECT_FALSE(desk_.queue_has_online_agent("sales")) << "away agent counted";
  ASSERT_TRUE(desk_.set_status("ann", AgentStatus::online, 0));
  EXPECT_TRUE(desk_.queue_has_online_agent("sales"));
  EXPECT_FALSE(desk_.queue_has_online_agent("support"));
  EXPECT_FALSE(desk_.queue_has_online_agent("unknown"));
}

TEST_F(DeskTest, QueueHasOnlineAgentEvenWhenThatAgentIsFull) {
  online("ann", {"sales"}, 1);
  arrive("c1");
  ASSERT_EQ(desk_.route(clock_.now()).size(), 1u);
  EXPECT_TRUE(desk_.queue_has_online_agent("sales"));
}

// ---- Adding and finding ------------------------------------------------------------------------

TEST_F(DeskTest, FindsWhatWasAdded) {
  Conversation c = conversation("c1", "sales", 100);
  c.visitor.name = "Vera";
  ASSERT_TRUE(desk_.add(c).ok());
  Conversation* found = desk_.find("c1");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->id, "c1");
  EXPECT_EQ(found->visitor.name, "Vera");
  EXPECT_EQ(found->state, S::waiting);
  const Desk& cdesk = desk_;
  ASSERT_NE(cdesk.find("c1"), nullptr);
  EXPECT_EQ(cdesk.find("c1")->queue, "sales");
  EXPECT_EQ(desk_.live().size(), 1u);
}

TEST_F(DeskTest, FindUnknownIsNull) {
  EXPECT_EQ(desk_.find("nope"), nullptr);
  const Desk& cdesk = desk_;
  EXPECT_EQ(cdesk.find("nope"), nullptr);
}

TEST_F(DeskTest, AddRefusesUnknownQueue) {
  Status st = desk_.add(conversation("c1", "billing", 100));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::not_found);
  EXPECT_EQ(desk_.find("c1"), nullptr);
}

TEST_F(DeskTest, AddRefusesDuplicateIdAndKeepsTheFirst) {
  ASSERT_TRUE(desk_.add(conversation("c1", "sales", 100)).ok());
  Status st = desk_.add(conversation("c1", "support", 200));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::conflict);
  EXPECT_EQ(desk_.find("c1")->queue, "sales");
  EXPECT_EQ(desk_.waiting_count("sales"), 1u);
  EXPECT_EQ(desk_.waiting_count("support"), 0u);
}

TEST_F(DeskTest, AddRefusesTerminalConversations) {
  for (S s : {S::closed, S::transferred, S::abandoned}) {
    Status st = desk_.add(conversation("c1", "sales", 100, s));
    ASSERT_FALSE(st.ok()) << state_name(s);
    EXPECT_EQ(st.error().code, Errc::conflict);
  }
  EXPECT_TRUE(desk_.live().empty());
  EXPECT_EQ(desk_.waiting_count("sales"), 0u);
}

// ---- The line ----------------------------------------------------------------------------------

TEST_F(DeskTest, WaitingConversationsLineUpByWaitingSince) {
  ASSERT_TRUE(desk_.add(conversation("late", "sales", 300)).ok());
  ASSERT_TRUE(desk_.add(conversation("early", "sales", 100)).ok());
  ASSERT_TRUE(desk_.add(conversation("middle", "sales", 200)).ok());
  EXPECT_EQ(desk_.waiting_ids("sales"), (Ids{"early", "middle", "late"}));
  EXPECT_EQ(desk_.place_in_line("early"), 1u);
  EXPECT_EQ(desk_.place_in_line("middle"), 2u);
  EXPECT_EQ(desk_.place_in_line("late"), 3u);
  EXPECT_EQ(desk_.waiting_count("sales"), 3u);
}

TEST_F(DeskTest, EqualWaitingSinceKeepsArrivalOrder) {
  ASSERT_TRUE(desk_.add(conversation("a", "sales", 100)).ok());
  ASSERT_TRUE(desk_.add(conversation("b", "sales", 100)).ok());
  ASSERT_TRUE(desk_.add(conversation("c", "sales", 100)).ok());
  EXPECT_EQ(desk_.waiting_ids("sales"), (Ids{"a", "b", "c"}));
}

TEST_F(DeskTest, QueuesHaveSeparateLines) {
  arrive("s1", "sales");
  arrive("h1", "support");
  arrive("s2", "sales");
  EXPECT_EQ(desk_.waiting_ids("sales"), (Ids{"s1", "s2"}));
  EXPECT_EQ(desk_.waiting_ids("support"), (Ids{"h1"}));
  EXPECT_EQ(desk_.place_in_line("h1"), 1u);
  EXPECT_EQ(desk_.place_in_line("s2"), 2u);
}

TEST_F(DeskTest, PlaceInLineIsZeroForUnknownOrNotWaiting) {
  EXPECT_EQ(desk_.place_in_line("nope"), 0u);
  ASSERT_TRUE(desk_.add(conversation("c1", "sales", 100, S::active, "ann")).ok());
  EXPECT_EQ(desk_.place_in_line("c1"), 0u);
}

TEST_F(DeskTest, UnknownQueueHasNobodyWaiting) {
  EXPECT_EQ(desk_.waiting_count("billing"), 0u);
  EXPECT_TRUE(desk_.waiting_ids("billing").empty());
  EXPECT_EQ(desk_.longest_wait("billing", 5000), 0);
}

TEST_F(DeskTest, PlaceInLineMovesUpAsConversationsComeAndGo) {
  online("ann", {"sales"}, 1);
  arrive("c1");
  arrive("c2");
  arrive("c3");
  EXPECT_EQ(desk_.waiting_count("sales"), 3u);
  EXPECT_EQ(desk_.place_in_line("c3"), 3u);

  EXPECT_EQ(pairs(desk_.route(clock_.now())), (Pairs{{"c1", "ann"}}));
  EXPECT_EQ(desk_.waiting_count("sales"), 2u);
  EXPECT_EQ(desk_.place_in_line("c2"), 1u);
  EXPECT_EQ(desk_.place_in_line("c3"), 2u);

  arrive("c4");
  EXPECT_EQ(desk_.place_in_line("c4"), 3u);

  ASSERT_TRUE(desk_.finish("c2", S::abandoned, "visitor left", clock_.now()).ok());
  EXPECT_EQ(desk_.waiting_count("sales"), 2u);
  EXPECT_EQ(desk_.place_in_line("c3"), 1u);
  EXPECT_EQ(desk_.place_in_line("c4"), 2u);
  EXPECT_EQ(desk_.place_in_line("c2"), 0u);

  ASSERT_TRUE(desk_.finish("c1", S::closed, "done", clock_.now()).ok());
  EXPECT_EQ(pairs(desk_.route(clock_.now())), (Pairs{{"c3", "ann"}}));
  EXPECT_EQ(desk_.waiting_count("sales"), 1u);
  EXPECT_EQ(desk_.place_in_line("c4"), 1u);
}

TEST_F(DeskTest, LongestWaitIsTheOldestWaitersWait) {
  EXPECT_EQ(desk_.longest_wait("sales", clock_.now()), 0);
  ASSERT_TRUE(desk_.add(conversation("c2", "sales", 3000)).ok());
  ASSERT_TRUE(desk_.add(conversation("c1", "sales", 1000)).ok());
  EXPECT_EQ(desk_.longest_wait("sales", 10'000), 9000);
  ASSERT_TRUE(desk_.finish("c1", S::abandoned, "", 10'000).ok());
  EXPECT_EQ(desk_.longest_wait("sales", 10'000), 7000);
  ASSERT_TRUE(desk_.finish("c2", S::abandoned, "", 10'000).ok());
  EXPECT_EQ(desk_.longest_wait("sales", 10'000), 0);
  EXPECT_EQ(desk_.longest_wait("support", 10'000), 0);
}

// ---- Routing -----------------------------------------------------------------------------------

TEST_F(DeskTest, RouteAssignsAndMakesTheConversationActive) {
  online("ann", {"sales"});
  arrive("c1");
  const Millis now = clock_.now();
  EXPECT_EQ(pairs(desk_.route(now)), (Pairs{{"c1", "ann"}}));
  const Conversation* c = desk_.find("c1");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->state, S::active);
  EXPECT_EQ(c->agent, "ann");
  EXPECT_EQ(c->updated_at, now);
  EXPECT_EQ(desk_.place_in_line("c1"), 0u);
  EXPECT_EQ(desk_.waiting_count("sales"), 0u);
  EXPECT_EQ(load("ann"), 1);
  EXPECT_EQ(desk_.agent("ann")->conversations.count("c1"), 1u);
  EXPECT_EQ(idle_since("ann"), now);
}

TEST_F(DeskTest, RouteWithNobodyWaitingDoesNothing) {
  online("ann", {"sales"});
  const Millis idle = idle_since("ann");
  EXPECT_TRUE(desk_.route(clock_.now()).empty());
  EXPECT_EQ(idle_since("ann"), idle);
}

TEST_F(DeskTest, RouteWithoutAgentsLeavesConversationsWaiting) {
  arrive("c1");
  EXPECT_TRUE(desk_.route(clock_.now()).empty());
  EXPECT_EQ(desk_.place_in_line("c1"), 1u);
}

TEST_F(DeskTest, RouteSkipsAwayAndOfflineAgents) {
  desk_.upsert_agent(profile("off", {"sales"}), 0);
  desk_.upsert_agent(profile("away", {"sales"}), 0);
  ASSERT_TRUE(desk_.set_status("away", AgentStatus::online, 0));
  ASSERT_TRUE(desk_.set_status("away", AgentStatus::away, 0));
  arrive("c1");
  EXPECT_TRUE(desk_.route(clock_.now()).empty());
  EXPECT_EQ(desk_.find("c1")->state, S::waiting);
  EXPECT_EQ(load("off"), 0);
  EXPECT_EQ(load("away"), 0);
}

TEST_F(DeskTest, RouteGivesTheLongestIdleAgent) {
  online("ann", {"sales"});  // online first: idle longest
  online("bob", {"sales"});
  arrive("c1");
  EXPECT_EQ(pairs(desk_.route(clock_.now())), (Pairs{{"c1", "ann"}}));
}

TEST_F(DeskTest, RouteOnlyGivesQueuesTheAgentServes) {
  online("ann", {"support"});
  arrive("s1", "sales");
  arrive("h1", "support");
  EXPECT_EQ(pairs(desk_.route(clock_.now())), (Pairs{{"h1", "ann"}}));
  EXPECT_EQ(desk_.place_in_line("s1"), 1u);
}

TEST_F(DeskTest, RouteRespectsCapacity) {
  online("ann", {"sales"}, 2);
  arrive("c1");
  arrive("c2");
  arrive("c3");
  EXPECT_EQ(pairs(desk_.route(clock_.now())), (Pairs{{"c1", "ann"}, {"c2", "ann"}}));
  EXPECT_EQ(load("ann"), 2);
  EXPECT_TRUE(desk_.route(clock_.now()).empty());
  EXPECT_EQ(desk_.place_in_line("c3"), 1u);
}

TEST_F(DeskTest, RouteTakesTheOldestAcrossQueues) {
  online("ann", {"sales", "support"}, 1);
  arrive("h1", "support");
  arrive("s1", "sales");
  EXPECT_EQ(pairs(desk_.route(clock_.now())), (Pairs{{"h1", "ann"}}));
}

TEST_F(DeskTest, RouteSpreadsWorkAsAgentsFreeUp) {
  online("ann", {"sales"}, 1);
  online("bob", {"sales"}, 1);
  arrive("c1");
  arrive("c2");
  EXPECT_EQ(pairs(desk_.route(clock_.now())), (Pairs{{"c1", "ann"}, {"c2", "bob"}}));
  clock_.advance(1000);
  ASSERT_TRUE(desk_.finish("c2", S::closed, "", clock_.now()).ok());  // bob frees first
  clock_.advance(1000);
  ASSERT_TRUE(desk_.finish("c1", S::closed, "", clock_.now()).ok());
  arrive("c3");
  EXPECT_EQ(pairs(desk_.route(clock_.now())), (Pairs{{"c3", "bob"}}));
}

// ---- Claiming ----------------------------------------------------------------------------------

TEST_F(DeskTest, ClaimMakesTheConversationTheAgents) {
  online("ann", {"sales"});
  arrive("c1");
  arrive("c2");
  const Millis now = clock_.now();
  ASSERT_TRUE(desk_.claim("c2", "ann", now).ok());
  const Conversation* c = desk_.find("c2");
  EXPECT_EQ(c->state, S::active);
  EXPECT_EQ(c->agent, "ann");
  EXPECT_EQ(c->updated_at, now);
  EXPECT_EQ(load("ann"), 1);
  EXPECT_EQ(idle_since("ann"), now);
  EXPECT_EQ(desk_.waiting_ids("sales"), (Ids{"c1"}));
  EXPECT_EQ(desk_.place_in_line("c2"), 0u);
}

TEST_F(DeskTest, ClaimOfUnknownConversationIsNotFound) {
  online("ann", {"sales"});
  Status st = desk_.claim("nope", "ann", clock_.now());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::not_found);
}

TEST_F(DeskTest, ClaimByUnknownAgentIsNotFound) {
  arrive("c1");
  Status st = desk_.claim("c1", "ghost", clock_.now());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::not_found);
  EXPECT_EQ(desk_.place_in_line("c1"), 1u);
}

TEST_F(DeskTest, ClaimOutsideTheAgentsQueuesIsForbidden) {
  online("ann", {"support"});
  arrive("c1", "sales");
  Status st = desk_.claim("c1", "ann", clock_.now());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::forbidden);
  EXPECT_EQ(desk_.find("c1")->state, S::waiting);
  EXPECT_EQ(desk_.place_in_line("c1"), 1u);
  EXPECT_EQ(load("ann"), 0);
}

TEST_F(DeskTest, ClaimAtCapacityIsAConflict) {
  online("ann", {"sales"}, 1);
  arrive("c1");
  arrive("c2");
  ASSERT_TRUE(desk_.claim("c1", "ann", clock_.now()).ok());
  const Millis idle = idle_since("ann");
  clock_.advance(1000);
  Status st = desk_.claim("c2", "ann", clock_.now());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::conflict);
  EXPECT_EQ(desk_.find("c2")->state, S::waiting);
  EXPECT_EQ(desk_.place_in_line("c2"), 1u);
  EXPECT_EQ(load("ann"), 1);
  EXPECT_EQ(idle_since("ann"), idle);
}

TEST_F(DeskTest, ClaimOfAConversationNotWaitingIsAConflict) {
  online("ann", {"sales"});
  online("bob", {"sales"});
  arrive("c1");
  ASSERT_TRUE(desk_.claim("c1", "ann", clock_.now()).ok());
  Status st = desk_.claim("c1", "bob", clock_.now());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::conflict);
  EXPECT_EQ(desk_.find("c1")->agent, "ann");
  EXPECT_EQ(load("bob"), 0);
  // Also when the same agent claims twice: the load is not counted again.
  Status again = desk_.claim("c1", "ann", clock_.now());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::conflict);
  EXPECT_EQ(load("ann"), 1);
}

TEST_F(DeskTest, ClaimOfATransferringConversationIsAConflict) {
  online("ann", {"sales"});
  online("bob", {"sales"});
  ASSERT_TRUE(desk_.add(conversation("c1", "sales", 100, S::transferring, "ann")).ok());
  Status st = desk_.claim("c1", "bob", clock_.now());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::conflict);
}

// ---- Requeueing --------------------------------------------------------------------------------

TEST_F(DeskTest, RequeueSendsAnActiveConversationToTheBackOfItsLine) {
  online("ann", {"sales"});
  arrive("c1");
  ASSERT_TRUE(desk_.claim("c1", "ann", clock_.now()).ok());
  arrive("c2");
  arrive("c3");
  const Millis now = clock_.now();
  ASSERT_TRUE(desk_.requeue("c1", "", now).ok());
  const Conversation* c = desk_.find("c1");
  EXPECT_EQ(c->state, S::waiting);
  EXPECT_EQ(c->queue, "sales");
  EXPECT_EQ(c->agent, "");
  EXPECT_EQ(c->waiting_since, now);
  EXPECT_EQ(c->updated_at, now);
  EXPECT_EQ(desk_.waiting_ids("sales"), (Ids{"c2", "c3", "c1"}));
  EXPECT_EQ(desk_.place_in_line("c1"), 3u);
}

TEST_F(DeskTest, RequeueFreesTheAgent) {
  online("ann", {"sales"}, 1);
  arrive("c1");
  arrive("c2");
  ASSERT_EQ(desk_.route(clock_.now()).size(), 1u);
  clock_.advance(1000);
  const Millis now = clock_.now();
  ASSERT_TRUE(desk_.requeue("c1", "", now).ok());
  EXPECT_EQ(load("ann"), 0);
  EXPECT_EQ(desk_.agent("ann")->conversations.count("c1"), 0u);
  EXPECT_EQ(idle_since("ann"), now);
  // c2 has waited longer than the requeued c1, so it goes first.
  EXPECT_EQ(pairs(desk_.route(clock_.now())), (Pairs{{"c2", "ann"}}));
}

TEST_F(DeskTest, RequeueToAnotherQueueMovesIt) {
  online("ann", {"sales"});
  arrive("c1", "sales");
  arrive("h1", "support");
  ASSERT_TRUE(desk_.claim("c1", "ann", clock_.now()).ok());
  ASSERT_TRUE(desk_.requeue("c1", "support", clock_.now()).ok());
  EXPECT_EQ(desk_.find("c1")->queue, "support");
  EXPECT_EQ(desk_.waiting_ids("support"), (Ids{"h1", "c1"}));
  EXPECT_EQ(desk_.waiting_count("sales"), 0u);
  EXPECT_EQ(load("ann"), 0);
}

TEST_F(DeskTest, RequeueOfATransferringConversationReturnsItToWaiting) {
  online("ann", {"sales"});
  ASSERT_TRUE(desk_.add(conversation("c1", "sales", 100, S::transferring, "ann")).ok());
  ASSERT_EQ(load("ann"), 1);
  ASSERT_TRUE(desk_.requeue("c1", "support", clock_.now()).ok());
  EXPECT_EQ(desk_.find("c1")->state, S::waiting);
  EXPECT_EQ(desk_.place_in_line("c1"), 1u);
  EXPECT_EQ(load("ann"), 0);
}

TEST_F(DeskTest, RequeueToUnknownQueueIsNotFoundAndChangesNothing) {
  online("ann", {"sales"});
  arrive("c1");
  ASSERT_TRUE(desk_.claim("c1", "ann", clock_.now()).ok());
  Status st = desk_.requeue("c1", "billing", clock_.now());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::not_found);
  EXPECT_EQ(desk_.find("c1")->state, S::active);
  EXPECT_EQ(desk_.find("c1")->agent, "ann");
  EXPECT_EQ(load("ann"), 1);
}

TEST_F(DeskTest, RequeueOfUnknownConversationIsNotFound) {
  Status st = desk_.requeue("nope", "", clock_.now());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::not_found);
}

// A waiting conversation sent to a queue moves to the back of that line; it is never lost.
TEST_F(DeskTest, RequeueOfAWaitingConversationNeverLosesItFromTheLine) {
  arrive("c1", "sales");
  arrive("c2", "sales");
  (void)desk_.requeue("c1", "support", clock_.now());
  EXPECT_EQ(desk_.waiting_count("sales") + desk_.waiting_count("support"), 2u);
  EXPECT_GE(desk_.place_in_line("c1"), 1u);

  (void)desk_.requeue("c2", "", clock_.now());
  EXPECT_EQ(desk_.waiting_count("sales") + desk_.waiting_count("support"), 2u);
  EXPECT_GE(desk_.place_in_line("c2"), 1u);

  online("ann", {"sales", "support"});
  EXPECT_EQ(desk_.route(clock_.now()).size(), 2u);
}

// ---- Finishing ---------------------------------------------------------------------------------

TEST_F(DeskTest, FinishRemovesTheConversationAndReturnsItsFinalRecord) {
  online("ann", {"sales"});
  arrive("c1");
  ASSERT_TRUE(desk_.claim("c1", "ann", clock_.now()).ok());
  clock_.advance(1000);
  const Millis now = clock_.now();
  Result<Conversation> done = desk_.finish("c1", S::closed, "resolved", now);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->id, "c1");
  EXPECT_EQ(done->state, S::closed);
  EXPECT_EQ(done->closed_at, now);
  EXPECT_EQ(done->updated_at, now);
  EXPECT_EQ(done->close_reason, "resolved");
  EXPECT_EQ(done->agent, "ann") << "the record keeps who had it last";
  EXPECT_EQ(desk_.find("c1"), nullptr);
  EXPECT_TRUE(desk_.live().empty());
}

TEST_F(DeskTest, FinishFreesCapacity) {
  online("ann", {"sales"}, 1);
  arrive("c1");
  arrive("c2");
  ASSERT_EQ(pairs(desk_.route(clock_.now())), (Pairs{{"c1", "ann"}}));
  ASSERT_TRUE(desk_.route(clock_.now()).empty());
  clock_.advance(1000);
  const Millis now = clock_.now();
  ASSERT_TRUE(desk_.finish("c1", S::closed, "", now).ok());
  EXPECT_EQ(load("ann"), 0);
  EXPECT_EQ(idle_since("ann"), now);
  EXPECT_EQ(pairs(desk_.route(clock_.now())), (Pairs{{"c2", "ann"}}));
}

TEST_F(DeskTest, FinishOfAWaitingConversationTakesItOutOfLine) {
  arrive("c1");
  arrive("c2");
  Result<Conversation> done = desk_.finish("c1", S::abandoned, "visitor left", clock_.now());
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, S::abandoned);
  EXPECT_EQ(done->agent, "");
  EXPECT_EQ(desk_.waiting_ids("sales"), (Ids{"c2"}));
}

TEST_F(DeskTest, FinishOfATransferringConversationAsTransferredFreesTheAgent) {
  online("ann", {"sales"});
  ASSERT_TRUE(desk_.add(conversation("c1", "sales", 100, S::transferring, "ann")).ok());
  Result<Conversation> done = desk_.finish("c1", S::transferred, "arrived at peer", clock_.now());
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, S::transferred);
  EXPECT_EQ(done->agent, "ann");
  EXPECT_EQ(load("ann"), 0);
}

TEST_F(DeskTest, FinishWithANonTerminalStateIsRefusedAndChangesNothing) {
  online("ann", {"sales"});
  arrive("c1");
  ASSERT_TRUE(desk_.claim("c1", "ann", clock_.now()).ok());
  for (S s : {S::waiting, S::active, S::transferring}) {
    Result<Conversation> r = desk_.finish("c1", s, "", clock_.now());
    ASSERT_FALSE(r.ok()) << state_name(s);
    EXPECT_EQ(r.error().code, Errc::internal);
  }
  ASSERT_NE(desk_.find("c1"), nullptr);
  EXPECT_EQ(desk_.find("c1")->state, S::active);
  EXPECT_EQ(load("ann"), 1);
}

TEST_F(DeskTest, FinishRefusedByTheStateMachineChangesNothing) {
  online("ann", {"sales"});
  arrive("c1");
  ASSERT_TRUE(desk_.claim("c1", "ann", clock_.now()).ok());
  Result<Conversation> r = desk_.finish("c1", S::transferred, "", clock_.now());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::conflict);
  ASSERT_NE(desk_.find("c1"), nullptr);
  EXPECT_EQ(desk_.find("c1")->state, S::active);
  EXPECT_EQ(load("ann"), 1);

  arrive("c2");
  Result<Conversation> w = desk_.finish("c2", S::transferred, "", clock_.now());
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, Errc::conflict);
  EXPECT_EQ(desk_.place_in_line("c2"), 1u);
}

TEST_F(DeskTest, FinishOfUnknownConversationIsNotFound) {
  Result<Conversation> r = desk_.finish("nope", S::closed, "", clock_.now());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::not_found);
}

TEST_F(DeskTest, FinishingTwiceIsNotFound) {
  arrive("c1");
  ASSERT_TRUE(desk_.finish("c1", S::closed, "", clock_.now()).ok());
  Result<Conversation> again = desk_.finish("c1", S::closed, "", clock_.now());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::not_found);
}

TEST_F(DeskTest, FinishedIdCanBeAddedAgain) {
  arrive("c1");
  ASSERT_TRUE(desk_.finish("c1", S::closed, "", clock_.now()).ok());
  EXPECT_TRUE(desk_.add(conversation("c1", "sales", clock_.now())).ok());
  EXPECT_EQ(desk_.place_in_line("c1"), 1u);
}

// ---- Restoring live conversations at start-up ---------------------------------------------------

TEST_F(DeskTest, RestoredActiveConversationCountsAgainstItsAgent) {
  desk_.upsert_agent(profile("ann", {"sales"}, 2), 0);
  ASSERT_TRUE(desk_.add(conversation("a1", "sales", 100, S::active, "ann")).ok());
  ASSERT_TRUE(desk_.add(conversation("a2", "sales", 100, S::transferring, "ann")).ok());
  EXPECT_EQ(load("ann"), 2);
  EXPECT_EQ(desk_.place_in_line("a1"), 0u);
  EXPECT_EQ(desk_.waiting_count("sales"), 0u);

  ASSERT_TRUE(desk_.set_status("ann", AgentStatus::online, clock_.now()));
  arrive("c1");
  EXPECT_TRUE(desk_.route(clock_.now()).empty()) << "capacity ignored restored conversations";
  Status st = desk_.claim("c1", "ann", clock_.now());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::conflict);

  ASSERT_TRUE(desk_.finish("a1", S::closed, "", clock_.now()).ok());
  EXPECT_EQ(load("ann"), 1);
  EXPECT_EQ(pairs(desk_.route(clock_.now())), (Pairs{{"c1", "ann"}}));
}

TEST_F(DeskTest, RestoredConversationOfUnknownAgentIsKeptButCountsForNobody) {
  ASSERT_TRUE(desk_.add(conversation("a1", "sales", 100, S::active, "gone")).ok());
  ASSERT_NE(desk_.find("a1"), nullptr);
  EXPECT_EQ(desk_.waiting_count("sales"), 0u);
  Result<Conversation> done = desk_.finish("a1", S::closed, "", clock_.now());
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->agent, "gone");
}

TEST_F(DeskTest, RestoredWaitingConversationsKeepTheirPlace) {
  // Loaded in any order, they line up by when they started waiting.
  ASSERT_TRUE(desk_.add(conversation("w3", "sales", 300)).ok());
  ASSERT_TRUE(desk_.add(conversation("w1", "sales", 100)).ok());
  ASSERT_TRUE(desk_.add(conversation("a1", "sales", 50, S::active, "ann")).ok());
  ASSERT_TRUE(desk_.add(conversation("w2", "sales", 200)).ok());
  EXPECT_EQ(desk_.waiting_ids("sales"), (Ids{"w1", "w2", "w3"}));
}

}  // namespace
}  // namespace baton::core
