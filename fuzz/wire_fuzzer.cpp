// The bodies of server-to-server requests and answers (federation/wire.hpp): every
// parser run on the input. Besides "no crash", checks that whatever parses
// serializes to a body that parses back to the same message (the serialized form
// is a fixed point), so that a message stored in the outbox and sent again says
// what it said the first time.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "baton/federation/wire.hpp"
#include "fuzz/check.hpp"

namespace wire = baton::federation::wire;

namespace {

template <typename Parse>
void round_trip(std::string_view in, Parse parse) {
  auto m = parse(in);
  if (!m) return;
  std::string once = wire::serialize(*m);
  auto again = parse(once);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(wire::serialize(*again) == once);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 256 * 1024) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  wire::Limits limits;
  round_trip(in, [&](std::string_view s) { return wire::parse_offer(s, limits); });
  round_trip(in, [&](std::string_view s) { return wire::parse_context(s, limits); });
  round_trip(in, [&](std::string_view s) { return wire::parse_recall(s, limits); });
  round_trip(in, [&](std::string_view s) { return wire::parse_arrived_answer(s, limits); });
  round_trip(in, [](std::string_view s) { return wire::parse_offer_answer(s); });
  round_trip(in, [](std::string_view s) { return wire::parse_context_answer(s); });
  round_trip(in, [](std::string_view s) { return wire::parse_notice(s); });
  round_trip(in, [](std::string_view s) { return wire::parse_state_answer(s); });
  round_trip(in, [](std::string_view s) { return wire::parse_recall_answer(s); });
  (void)wire::error_message(in);
  auto context = wire::parse_context(in, limits);
  if (context) {
    wire::fit_to_packet(*context);
    FUZZ_CHECK(wire::serialize(*context).size() <= wire::kMaxPacketBytes || context->transcript.empty());
  }
  return 0;
}
