// The join and transfer pages' inputs: the form bodies of POST /join (the join
// code), POST /transfer and POST /transfer/stay (conversation and token), and the
// baton_handoff cookie of POST /api/visitor/handoff, on a live organization
// (fuzz/harness.hpp). Inputs may name the harness's conversation and token with
// placeholders, and a join code just issued with kJoinCodePlaceholder.
//
// Input: a first line "join", "transfer", "stay" or "handoff", then the body (or
// the cookie's value). Checks that markup sent in never comes back unescaped and
// that no header value carries a line break.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz/check.hpp"
#include "fuzz/harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& org = baton::fuzz::Org::get();
  org.begin_input();
  std::string in = org.replace_placeholders(std::string_view(reinterpret_cast<const char*>(data), size));
  if (auto pos = in.find(baton::fuzz::kJoinCodePlaceholder); pos != std::string::npos)
    in.replace(pos, baton::fuzz::kJoinCodePlaceholder.size(), org.fresh_join_code());
  if (in.size() > 64 * 1024) return 0;
  auto nl = in.find('\n');
  std::string which = in.substr(0, nl);
  std::string rest = nl == std::string::npos ? std::string() : in.substr(nl + 1);
  baton::http::Request req;
  req.method = "POST";
  req.remote_ip = "198.51.100.7";
  req.headers = {{"host", "chat.northwind.example"}, {"content-type", "application/x-www-form-urlencoded"}};
  if (which == "join") {
    req.path = "/join";
  } else if (which == "transfer") {
    req.path = "/transfer";
  } else if (which == "stay") {
    req.path = "/transfer/stay";
  } else if (which == "handoff") {
    req.path = "/api/visitor/handoff";
    req.headers.emplace_back("cookie", "baton_handoff=" + rest);
    rest.clear();
  } else {
    return 0;
  }
  req.target = req.path;
  req.body = rest;
  auto res = org.handle(std::move(req));
  if (std::getenv("FUZZ_VERBOSE")) std::fprintf(stderr, "%s -> %d %.300s\n", which.c_str(), res.status, res.body.c_str());
  FUZZ_CHECK(res.status >= 200 && res.status <= 599);
  FUZZ_CHECK(res.body.find("<fuzz") == std::string::npos);
  for (const auto& [name, value] : res.headers) {
    FUZZ_CHECK(value.find('\r') == std::string::npos && value.find('\n') == std::string::npos);
    FUZZ_CHECK(value.find("<fuzz") == std::string::npos);
  }
  return 0;
}
