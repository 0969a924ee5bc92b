#include "core/transfer.hpp"

namespace baton::core {

namespace {
struct KindName {
  TransferKind kind;
  std::string_view name;
};
constexpr KindName kKinds[] = {{TransferKind::agent, "agent"},
                               {TransferKind::queue, "queue"},
                               {TransferKind::consult, "consult"},
                               {TransferKind::peer, "peer"}};
struct StateName {
  TransferState state;
  std::string_view name;
};
constexpr StateName kStates[] = {
    {TransferState::offered, "offered"},     {TransferState::consulting, "consulting"},
    {TransferState::joined, "joined"},       {TransferState::offering, "offering"},
    {TransferState::moving, "moving"},       {TransferState::accepted, "accepted"},
    {TransferState::completed, "completed"}, {TransferState::declined, "declined"},
    {TransferState::expired, "expired"},     {TransferState::cancelled, "cancelled"},
    {TransferState::failed, "failed"},       {TransferState::recalled, "recalled"},
};
}  // namespace

std::string_view transfer_kind_name(TransferKind k) {
  for (const auto& e : kKinds)
    if (e.kind == k) return e.name;
  return "agent";
}

std::optional<TransferKind> parse_transfer_kind(std::string_view s) {
  for (const auto& e : kKinds)
    if (e.name == s) return e.kind;
  return std::nullopt;
}

std::string_view transfer_state_name(TransferState s) {
  for (const auto& e : kStates)
    if (e.state == s) return e.name;
  return "failed";
}

std::optional<TransferState> parse_transfer_state(std::string_view s) {
  for (const auto& e : kStates)
    if (e.name == s) return e.state;
  return std::nullopt;
}

bool is_open(TransferState s) {
  return s == TransferState::offered || s == TransferState::consulting || s == TransferState::joined ||
         s == TransferState::offering || s == TransferState::moving;
}

Status advance(Transfer& t, TransferState to, Millis now, std::string reason) {
  using S = TransferState;
  using K = TransferKind;
  bool ok = false;
  if (is_open(t.state)) {
    switch (t.kind) {
      case K::agent:
        ok = t.state == S::offered &&
             (to == S::accepted || to == S::declined || to == S::expired || to == S::cancelled ||
              to == S::failed);
        break;
      case K::queue:
        ok = false;  // a queue transfer is final when recorded
        break;
      case K::consult:
        ok = (t.state == S::consulting && (to == S::joined || to == S::completed || to == S::cancelled ||
                                           to == S::declined || to == S::expired || to == S::failed)) ||
             (t.state == S::joined && (to == S::completed || to == S::cancelled || to == S::expired ||
                                       to == S::failed));
        break;
      case K::peer:
        ok = (t.state == S::offering && (to == S::moving || to == S::failed || to == S::cancelled ||
                                         to == S::expired)) ||
             (t.state == S::moving && (to == S::completed || to == S::expired || to == S::cancelled ||
                                       to == S::failed));
        break;
    }
  } else if (t.kind == K::peer && t.state == S::completed && to == S::recalled) {
    ok = true;
  }
  if (!ok) {
    return Error{Errc::conflict, "transfer is " + std::string(transfer_state_name(t.state)) +
                                     ", cannot become " + std::string(transfer_state_name(to))};
  }
  t.state = to;
  t.updated_at = now;
  if (!is_open(to)) t.deadline = 0;
  if (!reason.empty()) t.reason = std::move(reason);
  return ok_status();
}

}  // namespace baton::core
