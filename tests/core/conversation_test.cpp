#include "baton/core/conversation.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace baton::core {
namespace {

using S = ConversationState;

const std::vector<S> kAllStates{S::waiting, S::active,      S::transferring,
                                S::closed,  S::transferred, S::abandoned};
const std::vector<EventKind> kAllKinds{EventKind::message, EventKind::note,   EventKind::joined,
                                       EventKind::left,    EventKind::closed, EventKind::system};
const std::vector<AuthorKind> kAllAuthorKinds{AuthorKind::visitor, AuthorKind::agent,
                                              AuthorKind::system};

// The whole state machine, written out once. Everything not listed is refused.
const std::set<std::pair<S, S>> kAllowed{
    {S::waiting, S::active},           {S::waiting, S::transferring},
    {S::waiting, S::closed},           {S::waiting, S::abandoned},
    {S::active, S::waiting},           {S::active, S::transferring},
    {S::active, S::closed},            {S::active, S::abandoned},
    {S::transferring, S::active},      {S::transferring, S::waiting},
    {S::transferring, S::transferred}, {S::transferring, S::closed},
    {S::transferring, S::abandoned},
};

Conversation sample(S state) {
  Conversation c;
  c.id = "c1";
  c.site = "example.org";
  c.queue = "sales";
  c.state = state;
  c.agent = state == S::active || state == S::transferring ? "ann" : "";
  c.created_at = 100;
  c.waiting_since = 110;
  c.updated_at = 120;
  c.closed_at = 0;
  c.last_seq = 7;
  c.last_message = "hello";
  return c;
}

bool same(const Conversation& a, const Conversation& b) {
  return a.id == b.id && a.site == b.site && a.queue == b.queue && a.state == b.state &&
         a.agent == b.agent && a.created_at == b.created_at && a.waiting_since == b.waiting_since &&
         a.updated_at == b.updated_at && a.closed_at == b.closed_at &&
         a.close_reason == b.close_reason && a.last_seq == b.last_seq && a.offline == b.offline &&
         a.last_message == b.last_message;
}

// ---- The state machine, one test per (from, to) pair ----------------------------------------

class TransitionTable : public testing::TestWithParam<std::tuple<S, S>> {};

TEST_P(TransitionTable, AllowsExactlyTheListedTransitions) {
  const auto [from, to] = GetParam();
  const bool allowed = kAllowed.count({from, to}) > 0;
  Status st = check_transition(from, to);
  EXPECT_EQ(st.ok(), allowed);
  if (!allowed) {
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, Errc::conflict);
  }
}

TEST_P(TransitionTable, TransitionAppliesOrRefusesLikeCheckTransition) {
  const auto [from, to] = GetParam();
  const bool allowed = kAllowed.count({from, to}) > 0;
  Conversation c = sample(from);
  const Conversation before = c;
  Status st = transition(c, to, 5000);
  ASSERT_EQ(st.ok(), allowed);
  if (allowed) {
    EXPECT_EQ(c.state, to);
    EXPECT_EQ(c.updated_at, 5000);
  } else {
    EXPECT_EQ(st.error().code, Errc::conflict);
    EXPECT_TRUE(same(c, before)) << "a refused transition changed the conversation";
  }
}

std::string pair_name(const testing::TestParamInfo<std::tuple<S, S>>& info) {
  return std::string(state_name(std::get<0>(info.param))) + "_to_" +
         std::string(state_name(std::get<1>(info.param)));
}

INSTANTIATE_TEST_SUITE_P(AllStatePairs, TransitionTable,
                         testing::Combine(testing::ValuesIn(kAllStates), testing::ValuesIn(kAllStates)),
                         pair_name);

// ---- The state machine, by behaviour -----------------------------------------------------------

TEST(Conversation, StartsWaiting) {
  Conversation c;
  EXPECT_EQ(c.state, S::waiting);
}

TEST(Conversation, EverydayPathIsWaitingActiveClosed) {
  Conversation c = sample(S::waiting);
  ASSERT_TRUE(transition(c, S::active, 200).ok());
  ASSERT_TRUE(transition(c, S::closed, 300).ok());
  EXPECT_EQ(c.state, S::closed);
}

TEST(Conversation, FederatedTransferEndsTransferredOnlyThroughTransferring) {
  EXPECT_FALSE(check_transition(S::active, S::transferred).ok());
  EXPECT_FALSE(check_transition(S::waiting, S::transferred).ok());
  Conversation c = sample(S::active);
  ASSERT_TRUE(transition(c, S::transferring, 200).ok());
  ASSERT_TRUE(transition(c, S::transferred, 300).ok());
  EXPECT_EQ(c.state, S::transferred);
}

TEST(Conversation, CancelledTransferReturnsToActive) {
  Conversation c = sample(S::active);
  ASSERT_TRUE(transition(c, S::transferring, 200).ok());
  ASSERT_TRUE(transition(c, S::active, 300).ok());
  EXPECT_EQ(c.state, S::active);
}

TEST(Conversation, NoStateTransitionsToItself) {
  for (S s : kAllStates) {
    SCOPED_TRACE(std::string(state_name(s)));
    EXPECT_FALSE(check_transition(s, s).ok());
  }
}

TEST(Conversation, NothingReturnsToWaitingOnceTerminal) {
  for (S from : kAllStates) {
    if (!is_terminal(from)) continue;
    for (S to : kAllStates) {
      SCOPED_TRACE(std::string(state_name(from)) + " -> " + std::string(state_name(to)));
      Status st = check_transition(from, to);
      ASSERT_FALSE(st.ok());
      EXPECT_EQ(st.error().code, Errc::conflict);
    }
  }
}

TEST(Conversation, TerminalStatesAreClosedTransferredAndAbandoned) {
  EXPECT_FALSE(is_terminal(S::waiting));
  EXPECT_FALSE(is_terminal(S::active));
  EXPECT_FALSE(is_terminal(S::transferring));
  EXPECT_TRUE(is_terminal(S::closed));
  EXPECT_TRUE(is_terminal(S::transferred));
  EXPECT_TRUE(is_terminal(S::abandoned));
}

TEST(Conversation, TerminalStatesAreFinal) {
  for (S terminal : {S::closed, S::transferred, S::abandoned}) {
    Conversation c = sample(terminal);
    c.closed_at = 150;
    const Conversation before = c;
    for (S to : kAllStates) {
      SCOPED_TRACE(std::string(state_name(terminal)) + " -> " + std::string(state_name(to)));
      EXPECT_FALSE(transition(c, to, 9999).ok());
      EXPECT_TRUE(same(c, before));
    }
  }
}

TEST(Conversation, RefusalIsAConflictThatNamesBothStates) {
  Status st = check_transition(S::closed, S::active);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::conflict);
  EXPECT_NE(st.error().message.find("closed"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("active"), std::string::npos) << st.error().message;
}

TEST(Conversation, TransitionStampsUpdatedAt) {
  Conversation c = sample(S::waiting);
  ASSERT_TRUE(transition(c, S::active, 4242).ok());
  EXPECT_EQ(c.updated_at, 4242);
}

TEST(Conversation, EnteringWaitingStampsWaitingSince) {
  for (S from : {S::active, S::transferring}) {
    SCOPED_TRACE(std::string(state_name(from)));
    Conversation c = sample(from);
    ASSERT_TRUE(transition(c, S::waiting, 7000).ok());
    EXPECT_EQ(c.waiting_since, 7000);
    EXPECT_EQ(c.updated_at, 7000);
    EXPECT_EQ(c.closed_at, 0);
  }
}

TEST(Conversation, LeavingWaitingKeepsWaitingSince) {
  for (S to : {S::active, S::transferring}) {
    SCOPED_TRACE(std::string(state_name(to)));
    Conversation c = sample(S::waiting);
    ASSERT_TRUE(transition(c, to, 7000).ok());
    EXPECT_EQ(c.waiting_since, 110);
    EXPECT_EQ(c.closed_at, 0);
  }
}

TEST(Conversation, EnteringATerminalStateStampsClosedAt) {
  const std::vector<std::pair<S, S>> paths{{S::waiting, S::closed},
                                           {S::waiting, S::abandoned},
                                           {S::active, S::closed},
                                           {S::active, S::abandoned},
                                           {S::transferring, S::closed},
                                           {S::transferring, S::transferred},
                                           {S::transferring, S::abandoned}};
  for (const auto& [from, to] : paths) {
    SCOPED_TRACE(std::string(state_name(from)) + " -> " + std::string(state_name(to)));
    Conversation c = sample(from);
    ASSERT_TRUE(transition(c, to, 8000).ok());
    EXPECT_EQ(c.closed_at, 8000);
    EXPECT_EQ(c.updated_at, 8000);
    EXPECT_EQ(c.waiting_since, 110);
  }
}

TEST(Conversation, TransitionLeavesOtherFieldsAlone) {
  Conversation c = sample(S::active);
  ASSERT_TRUE(transition(c, S::closed, 8000).ok());
  EXPECT_EQ(c.id, "c1");
  EXPECT_EQ(c.queue, "sales");
  EXPECT_EQ(c.agent, "ann");
  EXPECT_EQ(c.created_at, 100);
  EXPECT_EQ(c.last_seq, 7);
  EXPECT_EQ(c.last_message, "hello");
}

// ---- Names -----------------------------------------------------------------------------------

TEST(Conversation, StateNamesAreTheWireNames) {
  EXPECT_EQ(state_name(S::waiting), "waiting");
  EXPECT_EQ(state_name(S::active), "active");
  EXPECT_EQ(state_name(S::transferring), "transferring");
  EXPECT_EQ(state_name(S::closed), "closed");
  EXPECT_EQ(state_name(S::transferred), "transferred");
  EXPECT_EQ(state_name(S::abandoned), "abandoned");
}

TEST(Conversation, StateNamesRoundTrip) {
  std::set<std::string_view> seen;
  for (S s : kAllStates) {
    EXPECT_TRUE(seen.insert(state_name(s)).second) << "duplicate name " << state_name(s);
    auto parsed = parse_state(state_name(s));
    ASSERT_TRUE(parsed.has_value()) << state_name(s);
    EXPECT_EQ(*parsed, s);
  }
}

TEST(Conversation, ParseStateRejectsUnknownNames) {
  for (std::string_view bad : {"", "Waiting", "ACTIVE", " active", "active ", "open", "close",
                               "waitin", "waitingg"}) {
    EXPECT_FALSE(parse_state(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(Conversation, KindNamesAreTheWireNames) {
  EXPECT_EQ(kind_name(EventKind::message), "message");
  EXPECT_EQ(kind_name(EventKind::note), "note");
  EXPECT_EQ(kind_name(EventKind::joined), "joined");
  EXPECT_EQ(kind_name(EventKind::left), "left");
  EXPECT_EQ(kind_name(EventKind::closed), "closed");
  EXPECT_EQ(kind_name(EventKind::system), "system");
}

TEST(Conversation, KindNamesRoundTrip) {
  std::set<std::string_view> seen;
  for (EventKind k : kAllKinds) {
    EXPECT_TRUE(seen.insert(kind_name(k)).second) << "duplicate name " << kind_name(k);
    auto parsed = parse_kind(kind_name(k));
    ASSERT_TRUE(parsed.has_value()) << kind_name(k);
    EXPECT_EQ(*parsed, k);
  }
}

TEST(Conversation, ParseKindRejectsUnknownNames) {
  for (std::string_view bad : {"", "Message", "NOTE", "messages", "typing", " note"}) {
    EXPECT_FALSE(parse_kind(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(Conversation, AuthorKindNamesAreTheWireNames) {
  EXPECT_EQ(author_kind_name(AuthorKind::visitor), "visitor");
  EXPECT_EQ(author_kind_name(AuthorKind::agent), "agent");
  EXPECT_EQ(author_kind_name(AuthorKind::system), "system");
}

TEST(Conversation, AuthorKindNamesRoundTrip) {
  std::set<std::string_view> seen;
  for (AuthorKind k : kAllAuthorKinds) {
    EXPECT_TRUE(seen.insert(author_kind_name(k)).second);
    auto parsed = parse_author_kind(author_kind_name(k));
    ASSERT_TRUE(parsed.has_value()) << author_kind_name(k);
    EXPECT_EQ(*parsed, k);
  }
}

TEST(Conversation, ParseAuthorKindRejectsUnknownNames) {
  for (std::string_view bad : {"", "Visitor", "AGENT", "user", "admin", "system "}) {
    EXPECT_FALSE(parse_author_kind(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(Conversation, NotesAreHiddenFromVisitorsAndEverythingElseIsShown) {
  for (EventKind k : kAllKinds) {
    Event e;
    e.kind = k;
    EXPECT_EQ(visible_to_visitor(e), k != EventKind::note) << kind_name(k);
  }
}

// ---- check_text --------------------------------------------------------------------------------

TEST(CheckText, AcceptsOrdinaryText) {
  EXPECT_TRUE(check_text("Hello, I need help with my order", kMaxMessageBytes, "text").ok());
}

TEST(CheckText, AcceptsMultibyteText) {
  EXPECT_TRUE(check_text("Grüße, 你好, 🙂", kMaxMessageBytes, "text").ok());
}

TEST(CheckText, AcceptsTextExactlyAtTheLimit) {
  EXPECT_TRUE(check_text(std::string(kMaxMessageBytes, 'a'), kMaxMessageBytes, "text").ok());
}

TEST(CheckText, RejectsTextOneByteOverTheLimitAsTooLarge) {
  Status st = check_text(std::string(kMaxMessageBytes + 1, 'a'), kMaxMessageBytes, "text");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::too_large);
  EXPECT_NE(st.error().message.find("text"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("4000"), std::string::npos) << st.error().message;
}

TEST(CheckText, CountsTheLimitInBytesNotCodePoints) {
  std::string two_byte;
  for (int i = 0; i < 100; ++i) two_byte += "é";  // 200 bytes, 100 code points
  EXPECT_TRUE(check_text(two_byte, 200, "name").ok());
  Status st = check_text(two_byte, 199, "name");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::too_large);
}

TEST(CheckText, RejectsInvalidUtf8AsBadRequest) {
  for (std::string_view bad : {std::string_view("abc\xff"), std::string_view("\xc3"),
                               std::string_view("\xc0\xaf"), std::string_view("\xed\xa0\x80"),
                               std::string_view("hi \x80 there")}) {
    Status st = check_text(bad, kMaxMessageBytes, "text");
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, Errc::bad_request);
    EXPECT_NE(st.error().message.find("UTF-8"), std::string::npos) << st.error().message;
  }
}

TEST(CheckText, RejectsEmptyText) {
  Status st = check_text("", kMaxMessageBytes, "text");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::bad_request);
  EXPECT_NE(st.error().message.find("text"), std::string::npos) << st.error().message;
}

TEST(CheckText, RejectsBlankText) {
  for (std::string_view blank : {" ", "   ", "\t", "\n", "\r\n", " \t\r\n "}) {
    Status st = check_text(blank, kMaxMessageBytes, "text");
    ASSERT_FALSE(st.ok()) << "'" << blank << "'";
    EXPECT_EQ(st.error().code, Errc::bad_request);
  }
}

TEST(CheckText, AcceptsTextSurroundedByWhitespace) {
  EXPECT_TRUE(check_text("  \n hi \t", kMaxMessageBytes, "text").ok());
}

TEST(CheckText, AllowEmptyAcceptsEmptyAndBlankText) {
  EXPECT_TRUE(check_text("", kMaxEmailBytes, "email", true).ok());
  EXPECT_TRUE(check_text("  ", kMaxEmailBytes, "email", true).ok());
}

TEST(CheckText, AllowEmptyStillEnforcesLimitAndEncoding) {
  Status too_long = check_text(std::string(kMaxEmailBytes + 1, 'a'), kMaxEmailBytes, "email", true);
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.error().code, Errc::too_large);
  Status bad = check_text("\xfe", kMaxEmailBytes, "email", true);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::bad_request);
}

TEST(CheckText, NamesTheFieldInEveryError) {
  for (const Status& st : {check_text(std::string(11, 'a'), 10, "visitor name"),
                           check_text("\xff", 10, "visitor name"), check_text(" ", 10, "visitor name")}) {
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().message.rfind("visitor name", 0), 0u) << st.error().message;
  }
}

TEST(CheckText, ZeroLimitAcceptsOnlyEmptyTextWhenAllowed) {
  EXPECT_TRUE(check_text("", 0, "x", true).ok());
  EXPECT_FALSE(check_text("", 0, "x").ok());
  Status st = check_text("a", 0, "x", true);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::too_large);
}

TEST(CheckText, AcceptsEmbeddedNul) {
  // NUL is valid UTF-8; storing it is the store's business.
  EXPECT_TRUE(check_text(std::string_view("a\0b", 3), 10, "text").ok());
}

}  // namespace
}  // namespace baton::core
