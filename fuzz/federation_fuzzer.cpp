// The federation messages: a partner's signed request, as Acme Bank's server
// would send it (signed with its pinned key, so it passes verification), to
// /federation/v1/offers or /federation/v1/transfers/{id}/{action}, through
// ApiService::federation_request and the hub's handlers on a live organization
// (fuzz/harness.hpp). Signature and digest parsing have their own fuzzers.
//
// Input: a first line "offer" or "<action> <transfer id>", then the JSON body.
// Checks that every answer is a JSON object (the protocol's replies and errors).
#include <boost/json/parse.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/check.hpp"
#include "fuzz/harness.hpp"
#include "http/message.hpp"
#include "http/server.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& org = baton::fuzz::Org::get();
  org.begin_input();
  std::string in = org.replace_placeholders(std::string_view(reinterpret_cast<const char*>(data), size));
  if (in.size() > baton::http::ServerOptions{}.max_body_bytes) return 0;
  auto nl = in.find('\n');
  std::string first = in.substr(0, nl);
  std::string body = nl == std::string::npos ? std::string() : in.substr(nl + 1);
  std::string path;
  auto space = first.find(' ');
  if (first == "offer") {
    path = "/federation/v1/offers";
  } else if (space != std::string::npos) {
    // The id as a client would put it in a URL.
    path = "/federation/v1/transfers/" + baton::http::percent_encode(first.substr(space + 1)) + "/" +
           baton::http::percent_encode(first.substr(0, space));
  } else {
    return 0;
  }
  auto res = org.signed_from_acme(path, body);
  FUZZ_CHECK(res.status >= 200 && res.status <= 599);
  boost::system::error_code ec;
  auto v = boost::json::parse(res.body, ec);
  if (ec || !v.is_object()) std::fprintf(stderr, "%d %s\n", res.status, res.body.c_str());
  FUZZ_CHECK(!ec && v.is_object());
  // Every answer is signed (docs/federation.md §4).
  bool signed_answer = false;
  for (const auto& [name, value] : res.headers) signed_answer = signed_answer || name == "Signature";
  FUZZ_CHECK(signed_answer);
  return 0;
}
