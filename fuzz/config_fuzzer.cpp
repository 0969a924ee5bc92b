// The configuration file: parse_config on any text (what load_config does after
// reading the file, whose size it bounds first), both with and without the
// password-hash check that only `baton agent passwd` turns off. Also checks the
// contract in config.hpp: to_toml's output parses back to an equal Config.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "baton/app/config.hpp"
#include "fuzz/check.hpp"

using namespace baton::app;

namespace {

constexpr std::size_t kMaxConfigBytes = 1 << 20;  // load_config's limit
constexpr const char* kBaseDir = "/etc/baton";

void round_trip(const Config& config, CheckOptions options) {
  std::string text = to_toml(config);
  auto again = parse_config(text, kBaseDir, options);
  if (!again) std::fprintf(stderr, "to_toml wrote:\n%s\nwhich fails: %s\n", text.c_str(), again.error().message.c_str());
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == config);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > kMaxConfigBytes) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto strict = parse_config(text, kBaseDir);
  if (strict) round_trip(*strict, {});
  CheckOptions lenient;
  lenient.password_hashes = false;
  auto loose = parse_config(text, kBaseDir, lenient);
  if (loose) round_trip(*loose, lenient);
  FUZZ_CHECK(!strict || loose);
  return 0;
}
