// WebSocket event JSON: a /ws socket accepted by ApiService::upgrade on a live
// organization (fuzz/harness.hpp), fed one message per input line through the
// real RealtimeClient::on_text, with the hub behind it. Messages longer than the
// server's frame limit are dropped (the server closes such a socket with 1009).
// Inputs may name the harness's conversation and tokens with placeholders.
//
// Checks that every message the server sends back is a JSON object with a type.
#include <boost/json/parse.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz/check.hpp"
#include "fuzz/harness.hpp"
#include "baton/http/server.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& org = baton::fuzz::Org::get();
  org.begin_input();
  std::string in = org.replace_placeholders(std::string_view(reinterpret_cast<const char*>(data), size));
  const std::size_t max_frame = baton::http::ServerOptions{}.max_frame_bytes;
  std::vector<std::string> texts;
  std::string_view rest = in;
  while (!rest.empty() && texts.size() < 32) {
    auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    if (line.size() <= max_frame) texts.emplace_back(line);
  }
  for (const auto& out : org.realtime(texts)) {
    if (std::getenv("FUZZ_VERBOSE")) std::fprintf(stderr, "<- %s\n", out.c_str());
    boost::system::error_code ec;
    auto v = boost::json::parse(out, ec);
    FUZZ_CHECK(!ec && v.is_object());
    auto* type = v.as_object().if_contains("type");
    FUZZ_CHECK(type && type->is_string());
  }
  return 0;
}
