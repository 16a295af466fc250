// topic_name_problem: Kafka's topic name rules, plus PEMX's refusal of "__" names.
#include "kafka/topic_name.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace pemx::kafka {
namespace {

TEST_CASE("legal topic names have no problem", "[unit][kafka]") {
  auto name = GENERATE(as<std::string>{}, "product-event", "product-price-update-v1-US",
                       "country-UnitedStates", "a", "A.b_c-9", "_single_underscore", "...",
                       "product-event-storage-pemx", std::string(kMaxTopicLength, 'x'));
  CAPTURE(name);
  CHECK_FALSE(topic_name_problem(name));
}

TEST_CASE("an empty name is refused", "[unit][kafka]") {
  CHECK(topic_name_problem("") == "topic name is empty");
}

TEST_CASE("names longer than 249 characters are refused", "[unit][kafka]") {
  CHECK(kMaxTopicLength == 249);
  CHECK(topic_name_problem(std::string(250, 'x')) ==
        "topic name is 250 characters long; the limit is 249");
}

TEST_CASE("\".\" and \"..\" are refused", "[unit][kafka]") {
  CHECK(topic_name_problem(".") == "topic name cannot be \".\" or \"..\"");
  CHECK(topic_name_problem("..") == "topic name cannot be \".\" or \"..\"");
}

TEST_CASE("Kafka-internal names starting with \"__\" are refused", "[unit][kafka]") {
  CHECK(topic_name_problem("__consumer_offsets") ==
        "topic names starting with \"__\" are Kafka-internal");
  CHECK(topic_name_problem("__transaction_state").has_value());
  CHECK(topic_name_problem("__").has_value());
}

TEST_CASE("characters outside [A-Za-z0-9._-] are refused and named", "[unit][kafka]") {
  const std::string rule = "; only letters, digits, '.', '_' and '-' are allowed";
  CHECK(topic_name_problem("country-United States") == "topic name contains ' '" + rule);
  CHECK(topic_name_problem("a/b") == "topic name contains '/'" + rule);
  CHECK(topic_name_problem("a{b}") == "topic name contains '{'" + rule);
  CHECK(topic_name_problem("a:b") == "topic name contains ':'" + rule);
  // Non-printable and non-ASCII bytes are shown as numbers, not echoed raw.
  CHECK(topic_name_problem("a\nb") == "topic name contains byte 10" + rule);
  CHECK(topic_name_problem("a\x7f") == "topic name contains byte 127" + rule);
  CHECK(topic_name_problem("country-Sverige\xc3\xa9") == "topic name contains byte 195" + rule);
  CHECK(topic_name_problem(std::string("a\0b", 3)) == "topic name contains byte 0" + rule);
}

}  // namespace
}  // namespace pemx::kafka
