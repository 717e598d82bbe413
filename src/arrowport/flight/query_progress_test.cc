#include "arrowport/flight/query_progress.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace arrowport::flight {
namespace query_progress_test {

using nlohmann::json;

json Answer(QueryProgressRegistry& registry, const std::string& user, const std::string& key) {
  auto answer = registry.Answer(user, json{{"key", key}}.dump());
  EXPECT_TRUE(answer.ok()) << answer.status().ToString();
  return json::parse(answer.ValueOr("{}"));
}

TEST(QueryProgressRegistryTest, AKeyFindsItsUsersRunningCallOnly) {
  QueryProgressRegistry registry;
  auto progress = std::make_shared<CallProgress>();
  EXPECT_EQ(Answer(registry, "ana", "key-of-ana-1")["running"], false);  // not begun
  {
    auto listed = registry.List("ana", "key-of-ana-1", progress);
    EXPECT_TRUE(progress->watched.load());  // DuckDB estimates only for watched calls
    json running = Answer(registry, "ana", "key-of-ana-1");
    EXPECT_EQ(running["running"], true);
    EXPECT_TRUE(running["percent"].is_null());  // no query running yet
    progress->SetQueryProbe([] { return 42.5; });
    EXPECT_EQ(Answer(registry, "ana", "key-of-ana-1")["percent"], 42.5);
    EXPECT_EQ(Answer(registry, "bob", "key-of-ana-1")["running"], false);  // not bob's
  }
  EXPECT_EQ(Answer(registry, "ana", "key-of-ana-1")["running"], false);  // ended
}

TEST(QueryProgressRegistryTest, AKeyTakenAgainNamesTheNewerCall) {
  QueryProgressRegistry registry;
  auto first = std::make_shared<CallProgress>();
  auto second = std::make_shared<CallProgress>();
  first->SetQueryProbe([] { return 10.0; });
  second->SetQueryProbe([] { return 90.0; });
  auto first_listed = registry.List("", "same-key-1", first);
  auto second_listed = registry.List("", "same-key-1", second);
  first_listed.reset();  // the older call ends: the newer one stays listed
  EXPECT_EQ(Answer(registry, "", "same-key-1")["percent"], 90.0);
}

TEST(QueryProgressRegistryTest, AnythingButAKeyIsRefused) {
  QueryProgressRegistry registry;
  for (const std::string body : {"", "[]", R"({"key": 7})", R"({"key": "short"})",
                                 R"({"key": "has space in it"})"}) {
    EXPECT_TRUE(registry.Answer("", body).status().IsInvalid()) << body;
  }
  EXPECT_TRUE(QueryProgressRegistry::ValidKey("0123456789abcdef_-AZ"));
  EXPECT_FALSE(QueryProgressRegistry::ValidKey(std::string(65, 'a')));
}

}  // namespace query_progress_test
}  // namespace arrowport::flight
