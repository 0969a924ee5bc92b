#include "baton/core/conversation.hpp"

#include "baton/core/text.hpp"

namespace baton::core {

namespace {
struct StateName {
  ConversationState state;
  std::string_view name;
};
constexpr StateName kStates[] = {
    {ConversationState::waiting, "waiting"},   {ConversationState::active, "active"},
    {ConversationState::transferring, "transferring"}, {ConversationState::closed, "closed"},
    {ConversationState::transferred, "transferred"},   {ConversationState::abandoned, "abandoned"},
};
struct KindName {
  EventKind kind;
  std::string_view name;
};
constexpr KindName kKinds[] = {
    {EventKind::message, "message"}, {EventKind::note, "note"},     {EventKind::joined, "joined"},
    {EventKind::left, "left"},       {EventKind::closed, "closed"}, {EventKind::system, "system"},
};
}  // namespace

std::string_view state_name(ConversationState s) {
  for (const auto& e : kStates)
    if (e.state == s) return e.name;
  return "closed";
}

std::optional<ConversationState> parse_state(std::string_view s) {
  for (const auto& e : kStates)
    if (e.name == s) return e.state;
  return std::nullopt;
}

bool is_terminal(ConversationState s) {
  return s == ConversationState::closed || s == ConversationState::transferred ||
         s == ConversationState::abandoned;
}

Status check_transition(ConversationState from, ConversationState to) {
  using S = ConversationState;
  bool allowed = false;
  switch (from) {
    case S::waiting:
      allowed = to == S::active || to == S::closed || to == S::abandoned || to == S::transferring;
      break;
    case S::active:
      // back to waiting: the agent went away or sent it to a queue
      allowed = to == S::waiting || to == S::transferring || to == S::closed || to == S::abandoned;
      break;
    case S::transferring:
      // a transfer ends accepted (active with someone else, or waiting in a queue),
      // handed over (transferred), or called off (active again)
      allowed = to == S::active || to == S::waiting || to == S::transferred || to == S::closed ||
                to == S::abandoned;
      break;
    case S::closed:
    case S::transferred:
    case S::abandoned:
      allowed = false;
      break;
  }
  if (!allowed) {
    return Error{Errc::conflict, "conversation is " + std::string(state_name(from)) +
                                     ", cannot become " + std::string(state_name(to))};
  }
  return ok_status();
}

Status transition(Conversation& c, ConversationState to, Millis now) {
  if (auto st = check_transition(c.state, to); !st) return st;
  c.state = to;
  c.updated_at = now;
  if (to == ConversationState::waiting) c.waiting_since = now;
  if (is_terminal(to)) c.closed_at = now;
  return ok_status();
}

std::string_view kind_name(EventKind k) {
  for (const auto& e : kKinds)
    if (e.kind == k) return e.name;
  return "system";
}

std::optional<EventKind> parse_kind(std::string_view s) {
  for (const auto& e : kKinds)
    if (e.name == s) return e.kind;
  return std::nullopt;
}

std::string_view author_kind_name(AuthorKind k) {
  switch (k) {
    case AuthorKind::visitor: return "visitor";
    case AuthorKind::agent: return "agent";
    case AuthorKind::system: return "system";
  }
  return "system";
}

std::optional<AuthorKind> parse_author_kind(std::string_view s) {
  if (s == "visitor") return AuthorKind::visitor;
  if (s == "agent") return AuthorKind::agent;
  if (s == "system") return AuthorKind::system;
  return std::nullopt;
}

Status check_text(std::string_view text, std::size_t max_bytes, std::string_view what,
                  bool allow_empty) {
  if (text.size() > max_bytes) {
    return Error{Errc::too_large,
                 std::string(what) + " is longer than " + std::to_string(max_bytes) + " bytes"};
  }
  if (!valid_utf8(text)) return Error{Errc::bad_request, std::string(what) + " is not valid UTF-8"};
  if (!allow_empty) {
    bool blank = true;
    for (char ch : text) {
      if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
        blank = false;
        break;
      }
    }
    if (blank) return Error{Errc::bad_request, std::string(what) + " is empty"};
  }
  return ok_status();
}

}  // namespace baton::core
