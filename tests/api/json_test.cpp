#include "json.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <string>

namespace baton::api {
namespace {

// Found by fuzz/api_fuzzer: GET /api/conversations?queue=C<0xE4>aims (a raw byte
// in the request line) quoted the queue name, not UTF-8, in the error message, and
// the body was not valid JSON.
TEST(ErrorJson, IsValidJsonWhateverTheMessageQuotes) {
  std::string body = error_json(core::Errc::forbidden, "you do not serve queue C\xE4" "aims");
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  ASSERT_FALSE(ec) << body;
  EXPECT_EQ(v.at("error").at("code").as_string(), "forbidden");
  EXPECT_EQ(v.at("error").at("message").as_string(), "you do not serve queue C\xEF\xBF\xBD" "aims");
}

}  // namespace
}  // namespace baton::api
