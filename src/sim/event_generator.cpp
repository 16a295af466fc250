#include "sim/event_generator.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace pemx::sim {

EventGenerator::EventGenerator(GeneratorOptions options)
    : options_(std::move(options)),
      rng_(options_.seed),
      type_({options_.price_weight, options_.country_weight, options_.discount_weight}) {
  if (options_.id_prefix.size() > 8) options_.id_prefix.resize(8);  // keep the UUID's shape
}

std::string EventGenerator::uuid() {
  std::uniform_int_distribution<int> hex(0, 15);
  static const char* digits = "0123456789abcdef";
  std::string s(36, '-');
  for (int i = 0; i < 36; ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) continue;
    s[i] = digits[hex(rng_)];
  }
  s[14] = '4';                                          // version 4
  s[19] = digits[8 + (hex(rng_) & 3)];                  // variant 10xx
  s.replace(0, options_.id_prefix.size(), options_.id_prefix);  // the first 8 digits are free
  return s;
}

std::string EventGenerator::product_id() {
  static const char* chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::uniform_int_distribution<int> pick(0, 35);
  std::string s(10, ' ');
  for (auto& c : s) c = chars[pick(rng_)];
  return s;
}

std::string EventGenerator::now_iso() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[80];  // what %d can print for every field, so the compiler sees no truncation
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

GeneratedEvent EventGenerator::next() {
  if (reuse_left_ <= 0 || current_product_.empty()) {
    current_product_ = product_id();
    reuse_left_ = std::uniform_int_distribution<int>(0, options_.max_reuse)(rng_) + 1;
  }
  --reuse_left_;
  GeneratedEvent e;
  e.event_id = uuid();
  e.product_id = current_product_;
  e.region = options_.regions[std::uniform_int_distribution<std::size_t>(
      0, options_.regions.size() - 1)(rng_)];
  int type = type_(rng_);
  static const char* kTypes[] = {"ProductPriceUpdate", "Country", "SpecificProductDiscountUpdate"};
  e.event_type = kTypes[type];

  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("eventId");
  w.String(e.event_id.c_str());
  w.Key("eventType");
  w.String(e.event_type.c_str());
  w.Key("productId");
  w.String(e.product_id.c_str());
  w.Key("region");
  w.String(e.region.c_str());
  w.Key("createdAt");
  w.String(now_iso().c_str());
  w.Key("data");
  w.StartObject();
  std::uniform_int_distribution<int> cents(100, 99999);
  std::uniform_int_distribution<int> pct(0, 90);
  if (type == 0) {
    w.Key("newPrice");
    w.Double(cents(rng_) / 100.0);
    w.Key("previousPrice");
    w.Double(cents(rng_) / 100.0);
  } else if (type == 1) {
    bool us = std::bernoulli_distribution(0.5)(rng_);
    e.country = us ? "UnitedStates" : "Sweden";
    w.Key("country");
    w.String(e.country.c_str());
    w.Key("region");
    w.String(us ? "US" : "EU");
  } else {
    w.Key("newDiscountPercentage");
    w.Int(pct(rng_));
    w.Key("previousDiscountPercentage");
    w.Int(pct(rng_));
  }
  w.EndObject();
  w.EndObject();
  e.json.assign(buf.GetString(), buf.GetSize());
  return e;
}

}  // namespace pemx::sim
